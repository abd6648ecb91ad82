// Go's time.Duration text form, which docker's service flags use
// (--restart-delay 5s, --stop-grace-period 1m30s).
import { invalidFlag } from '../cli-error.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses "1h2m3.5s", "300ms", "0" into milliseconds, like Go's time.ParseDuration.
 * Throws UsageError naming the flag.
 */
export function parseGoDuration(value: string, flag: string): number {
  const bad = (): Error => invalidFlag(value, flag, `time: invalid duration "${value}"`);
  let s = value.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw bad();
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    at = re.lastIndex;
  }
  return sign * total;
}

/** A protobuf Duration for milliseconds. */
export function toDuration(ms: number): { seconds: string; nanos: number } {
  const seconds = Math.trunc(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Milliseconds of a protobuf Duration (0 when unset). */
export function durationMs(d: { seconds?: string | number | null | object; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}

/** Go's Duration.String(): "5s", "1m30s", "1h0m0s", "500ms", "0s". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = rest >= 1 ? `${trim(rest)}ms` : `${trim(rest * 1000)}µs`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = `${trim(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

const trim = (n: number): string => String(Math.round(n * 1e6) / 1e6);
