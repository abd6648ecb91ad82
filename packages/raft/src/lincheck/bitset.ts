/**
 * A fixed-size set of small integers, packed 32 to a word.
 *
 * The checker keeps one of these for "which operations are linearized so far" and asks the cache
 * about it after every tentative step, so the hash is maintained incrementally on every set/clear
 * (XOR of a mixed value per member) instead of being recomputed over all words.
 */
export class Bitset {
  private readonly words: Uint32Array;
  private hashValue = 0;
  private count = 0;

  /** @throws RangeError when size is negative or not an integer. */
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`Bitset size must be a non-negative integer, got ${size}.`);
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
  }

  has(i: number): boolean {
    return ((this.words[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** Adds i; adding a member twice is a no-op. */
  set(i: number): this {
    const w = i >>> 5;
    const mask = 1 << (i & 31);
    const word = this.words[w]!;
    if ((word & mask) === 0) {
      this.words[w] = word | mask;
      this.hashValue ^= mix(i);
      this.count++;
    }
    return this;
  }

  /** Removes i; removing a non-member is a no-op. */
  clear(i: number): this {
    const w = i >>> 5;
    const mask = 1 << (i & 31);
    const word = this.words[w]!;
    if ((word & mask) !== 0) {
      this.words[w] = word & ~mask;
      this.hashValue ^= mix(i);
      this.count--;
    }
    return this;
  }

  /** Number of members. */
  popcount(): number {
    return this.count;
  }

  /** A 32-bit hash that depends only on the members, not on the order they were added. */
  hash(): number {
    return this.hashValue;
  }

  equals(other: Bitset): boolean {
    if (other.count !== this.count || other.hashValue !== this.hashValue) return false;
    const a = this.words;
    const b = other.words;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** True when every member of this set is in `other` (same size assumed). */
  isSubsetOf(other: Bitset): boolean {
    if (this.count > other.count) return false;
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) if ((a[i]! & ~b[i]!) !== 0) return false;
    return true;
  }

  /** True when every member of this set is in `a` or in `b` (same sizes assumed). */
  isSubsetOfUnion(a: Bitset, b: Bitset): boolean {
    const w = this.words;
    for (let i = 0; i < w.length; i++) if ((w[i]! & ~(a.words[i]! | b.words[i]!)) !== 0) return false;
    return true;
  }

  clone(): Bitset {
    const copy = new Bitset(this.size);
    copy.words.set(this.words);
    copy.hashValue = this.hashValue;
    copy.count = this.count;
    return copy;
  }

  /** Members in increasing order. */
  *members(): IterableIterator<number> {
    for (let w = 0; w < this.words.length; w++) {
      let word = this.words[w]!;
      while (word !== 0) {
        const low = word & -word;
        yield w * 32 + (31 - Math.clz32(low));
        word ^= low;
      }
    }
  }
}

/** A 32-bit finaliser (murmur3's) so that nearby indices land far apart in the hash. */
function mix(i: number): number {
  let h = (i + 0x9e3779b9) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
