// Human-readable sizes and durations the way docker prints them
// (github.com/docker/go-units: HumanSizeWithPrecision, BytesSize, HumanDuration).

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's %.Ng: N significant digits, trailing zeros dropped, Go-style exponent. */
export function goG(value: number, precision: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  let s = value.toPrecision(precision);
  if (s.includes('e') || exp >= precision || exp < -4) {
    const [mant = '', e = '0'] = value.toExponential(precision - 1).split('e');
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s;
}

function scaled(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  let v = size;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return [v, units[i]!];
}

/** Decimal units with 3 significant digits, as `docker images` shows sizes: "4.26MB", "1.2kB". */
export function humanSize(bytes: number, precision = 3): string {
  const [v, unit] = scaled(bytes, 1000, DECIMAL);
  return `${goG(v, precision)}${unit}`;
}

/** Binary units, as `docker stats` shows memory: "1.5MiB". */
export function bytesSize(bytes: number): string {
  const [v, unit] = scaled(bytes, 1024, BINARY);
  return `${goG(v, 4)}${unit}`;
}

/** A duration in words: "Less than a second", "2 minutes", "About an hour", "3 days". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 minutes ago" for a unix-seconds timestamp. */
export function timeAgo(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(Math.max(0, now - unixSeconds * 1000))} ago`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Go's time.Time String() in local time: "2026-11-23 15:00:00 +0000 UTC". */
export function goTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = off === 0 ? 'UTC' : (/\(([^)]+)\)/.exec(d.toString())?.[1]?.replace(/[^A-Z]/g, '') ?? '');
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ` +
    `${sign}${pad2(Math.trunc(abs / 60))}${pad2(abs % 60)} ${zone}`
  );
}

/** RFC 3339 with nanoseconds from a unix-nanoseconds string/number: "2026-11-23T15:00:00.000000000Z". */
export function rfc3339Nano(unixNanos: string | number | bigint): string {
  const ns = BigInt(unixNanos);
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const iso = new Date(Number(secs) * 1000).toISOString();
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Docker's Ellipsis: cut to `max` characters, the last being "…". */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  if (max <= 1) return chars.slice(0, max).join('');
  return `${chars.slice(0, max - 1).join('')}…`;
}

/** Strips "sha256:" and keeps 12 hex digits, as docker shows IDs. */
export function shortId(id: string): string {
  const i = id.indexOf(':');
  return (i >= 0 ? id.slice(i + 1) : id).slice(0, 12);
}
