// Samples of one measured command and the percentiles we print. Nearest-rank
// percentiles: with 20 samples p99 is the slowest run, which is what a reader
// of "p99 over 20 runs" expects, not an interpolated value nobody observed.

/** The timings of one benchmarked command; failed runs are counted, never averaged in. */
export class Series {
  readonly samples: number[] = [];
  failures = 0;
  firstError?: string;

  constructor(readonly name: string) {}

  add(ms: number): void {
    this.samples.push(ms);
  }

  fail(message: string): void {
    this.failures += 1;
    this.firstError ??= message;
  }

  get runs(): number {
    return this.samples.length;
  }

  /** The p-th percentile (0 < p ≤ 100) in ms, or undefined when nothing succeeded. */
  percentile(p: number): number | undefined {
    return percentile(this.samples, p);
  }
}

/** Nearest-rank percentile of `values`; undefined for an empty list. Throws RangeError for p outside (0, 100]. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** a / b, or undefined when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}
