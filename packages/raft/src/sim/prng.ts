// A small, fast, seedable PRNG (mulberry32). Every random choice of the
// simulator comes from one of these, so a seed replays exactly.

export class Prng {
  private a: number;

  constructor(seed: number) {
    this.a = (seed ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.int(xs.length)];
  }

  /** A derived generator (e.g. one per node) that does not disturb this one's sequence later. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 0xffffffff));
  }
}
