// The log as the core sees it: stable entries in Storage plus an unstable
// tail (and possibly an incoming snapshot) not yet handed to the host for
// persistence (etcd's raftLog + unstable).

import { RaftError, RaftErrorCode, compacted, isCompacted, isUnavailable, unavailable } from './errors.js';
import { limitSize } from './memory-storage.js';
import type { Entry, Snapshot, Storage } from './types.js';

export class RaftLog {
  /** Entries from `offset` on, not yet persisted. */
  unstableEntries: Entry[] = [];
  unstableOffset: number;
  /** A snapshot received from the leader, not yet persisted. */
  unstableSnapshot: Snapshot | undefined;
  /** Highest index known committed. */
  committed: number;
  /** Highest index the host has applied (advance()). */
  applied: number;
  /**
   * Highest index handed to the host in a Ready's committedEntries (>= applied): with several
   * Readies outstanding (asyncStorageWrites), the next Ready continues after it.
   */
  applying: number;
  /**
   * Unstable entries up to this index were handed to the host in a Ready not yet advanced
   * (etcd's offsetInProgress - 1): the next Ready carries only the ones after it.
   */
  inProgress: number;

  constructor(readonly storage: Storage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstableOffset = last + 1;
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
    this.inProgress = last;
  }

  /** Unstable entries not yet handed to the host. */
  entriesToPersist(): Entry[] {
    const from = Math.max(this.inProgress + 1, this.unstableOffset);
    return this.unstableEntries.slice(from - this.unstableOffset);
  }

  /** The host took every unstable entry (ready()). */
  acceptInProgress(): void {
    if (this.unstableEntries.length > 0) this.inProgress = this.unstableOffset + this.unstableEntries.length - 1;
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  /** @throws RaftError Compacted / Unavailable outside [firstIndex-1, lastIndex]. */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw compacted(i, dummy + 1);
    if (i > this.lastIndex()) throw unavailable(i, this.lastIndex());
    if (this.unstableSnapshot && i === this.unstableSnapshot.metadata.index) return this.unstableSnapshot.metadata.term;
    if (i >= this.unstableOffset && this.unstableEntries.length > 0) {
      return this.unstableEntries[i - this.unstableOffset]!.term;
    }
    if (this.unstableSnapshot) throw compacted(i, dummy + 1);
    return this.storage.term(i);
  }

  /** The term at i, or 0 when i is out of range (compacted or not yet written). */
  termOrZero(i: number): number {
    try {
      return this.term(i);
    } catch (err) {
      if (isCompacted(err) || isUnavailable(err)) return 0;
      throw err;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, term: number): boolean {
    try {
      return this.term(i) === term;
    } catch (err) {
      if (isCompacted(err) || isUnavailable(err)) return false;
      throw err;
    }
  }

  /** The Raft up-to-date rule (§5.4.1): a later last term wins; equal terms compare length. */
  isUpToDate(lasti: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries: if our entry at `index` has `logTerm`,
   * append `ents` (cutting any conflicting suffix), advance commit, and return
   * the new last index the leader may count; otherwise undefined.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastnewi = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftError(RaftErrorCode.InvalidConfig, `Entry ${ci} conflicts with a committed entry (committed ${this.committed}).`);
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastnewi));
    return lastnewi;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftError(RaftErrorCode.InvalidConfig, `Appending after ${after} would cut committed entries (committed ${this.committed}).`);
    }
    this.truncateAndAppend(ents);
    return this.lastIndex();
  }

  private truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    // Entries from `after` on are new: hand them out again even if a Ready in flight had older ones
    // there (it is persisted first, so the new ones overwrite them on disk).
    if (this.inProgress >= after) this.inProgress = after - 1;
    const end = this.unstableOffset + this.unstableEntries.length;
    if (after === end) {
      this.unstableEntries = this.unstableEntries.concat(ents);
    } else if (after <= this.unstableOffset) {
      // Replace the whole unstable tail; the stable log is cut at `after` when persisted.
      this.unstableOffset = after;
      this.unstableEntries = [...ents];
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, after - this.unstableOffset).concat(ents);
    }
  }

  /** The first index whose term differs from ours (or that we lack), 0 if none. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`: fast backtracking
   * skips a whole term of entries per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      let t: number;
      try {
        t = this.term(i);
      } catch (err) {
        if (isCompacted(err) || isUnavailable(err)) return { index: i, term: 0 };
        throw err;
      }
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Entries from i on, at most maxBytes (at least one). @throws RaftError Compacted if i is compacted. */
  entries(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** @throws RaftError Compacted / Unavailable when [lo, hi) is out of range. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw compacted(lo, first);
    if (hi > this.lastIndex() + 1) throw unavailable(hi - 1, this.lastIndex());
    let out: Entry[] = [];
    if (lo < this.unstableOffset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes);
      if (stored.length < Math.min(hi, this.unstableOffset) - lo) return stored;
      out = stored;
    }
    if (hi > this.unstableOffset) {
      const from = Math.max(lo, this.unstableOffset);
      out = out.concat(this.unstableEntries.slice(from - this.unstableOffset, hi - this.unstableOffset));
    }
    return limitSize(out, maxBytes);
  }

  commitTo(tocommit: number): void {
    if (this.committed < tocommit) {
      if (this.lastIndex() < tocommit) {
        throw new RaftError(RaftErrorCode.InvalidConfig, `Commit ${tocommit} is past the last index ${this.lastIndex()}; the log is corrupt or truncated.`);
      }
      this.committed = tocommit;
    }
  }

  /** Commit maxIndex if its entry is of `term` (only current-term entries commit by counting, §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (this.committed < i || i < this.applied) {
      throw new RaftError(RaftErrorCode.InvalidConfig, `Applied index ${i} is out of range [${this.applied}, ${this.committed}].`);
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  hasNextCommittedEnts(): boolean {
    if (this.unstableSnapshot) return false;
    return this.committed > Math.max(this.applied, this.applying, this.firstIndex() - 1);
  }

  nextCommittedEnts(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = Math.max(this.applied + 1, this.applying + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Mark entries up to (i, t) persisted; ignored if that entry was replaced meanwhile. */
  stableTo(i: number, t: number): void {
    if (i < this.unstableOffset) return;
    const e = this.unstableEntries[i - this.unstableOffset];
    if (!e || e.term !== t) return;
    this.unstableEntries = this.unstableEntries.slice(i + 1 - this.unstableOffset);
    this.unstableOffset = i + 1;
    if (this.inProgress < i) this.inProgress = i;
  }

  stableSnapTo(i: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.metadata.index === i) this.unstableSnapshot = undefined;
  }

  /** The newest snapshot: a pending one, else storage's. */
  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }

  /** Adopt a leader's snapshot: the whole log becomes the snapshot. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstableOffset = s.metadata.index + 1;
    this.unstableEntries = [];
    this.unstableSnapshot = s;
    this.inProgress = s.metadata.index;
    this.applying = s.metadata.index;
  }
}
