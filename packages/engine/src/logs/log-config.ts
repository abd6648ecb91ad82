// Log driver configuration shared by the shim (which writes) and the daemon
// (which reads). Kept free of @shoal/api so the shim's entry point stays small.

/** Where a container's output goes. `none` keeps nothing (attach still works). */
export type LogConfig =
  | { driver: 'json-file'; path: string; maxSize?: number; maxFile?: number }
  | { driver: 'none' };

/** The stream a line came from. */
export type LogStream = 'stdout' | 'stderr';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a docker log size (`10k`, `20m`, `1g`, `512`; binary units, as
 * docker's `max-size`). Returns undefined for an invalid value; the caller turns
 * that into a user-facing error, since it knows which option was wrong.
 */
export function parseLogSize(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

/** Paths of the rotated files for `path`, oldest first, ending with `path` itself. */
export function rotatedPaths(path: string, maxFile: number): string[] {
  const out: string[] = [];
  for (let i = maxFile - 1; i >= 1; i--) out.push(`${path}.${i}`);
  out.push(path);
  return out;
}

/** Wall-clock time in nanoseconds since the epoch, with sub-millisecond precision. */
export const nowNs: () => bigint = (() => {
  const base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return () => base + process.hrtime.bigint();
})();

/** RFC 3339 with a fixed nine-digit fraction in UTC, as docker's json-file writes. */
export function formatTimeNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2006-01-02T15:04:05.000Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Parses an RFC 3339 time (any fraction length, any offset) to nanoseconds; NaN-safe: undefined when invalid. */
export function parseTimeNs(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const secMs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secMs)) return undefined;
  return BigInt(secMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}
