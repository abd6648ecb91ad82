// An in-memory Storage (etcd's MemoryStorage). The host loop appends to it
// entries, hard state and snapshots only after they are durable, so the core
// reads back exactly what survived. Pure: no I/O.

import { RaftError, RaftErrorCode, compacted, unavailable } from './errors.js';
import type { ConfState, Entry, HardState, Snapshot, Storage } from './types.js';
import { EntryType } from './types.js';

export const emptyHardState = (): HardState => ({ term: 0, vote: '', commit: 0 });
export const emptySnapshot = (): Snapshot => ({
  metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
  data: new Uint8Array(0),
});

/** The payload size the size limits count (etcd counts the data bytes). */
export const entrySize = (e: Entry): number => e.data.byteLength;

/** Keep at least one entry, then add entries while the total stays within maxBytes. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState();
  private snap: Snapshot = emptySnapshot();
  /** ents[0] is a dummy holding the snapshot's index and term. */
  private ents: Entry[] = [{ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) }];

  /**
   * How every founding member of a new cluster starts: a snapshot at index 1, term 1 holding the
   * initial membership (etcd's bootstrap writes the same as term-1 entries). A member that joins
   * later starts from an empty MemoryStorage and receives this (or a later) snapshot from the leader,
   * which is how it learns the membership.
   */
  static bootstrap(confState: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { ...emptySnapshot(), metadata: { index: 1, term: 1, confState: cloneConfState(confState) } };
    s.ents = [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) }];
    s.hardState = { term: 1, vote: '', commit: 1 };
    return s;
  }

  /** An empty log (index 0) whose membership is `confState`: for unit tests that count indexes from 1. */
  static fromConfState(confState: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { ...emptySnapshot(), metadata: { index: 0, term: 0, confState: cloneConfState(confState) } };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  hardStateNow(): HardState {
    return { ...this.hardState };
  }

  /** @throws RaftError Compacted when lo is compacted, Unavailable when hi is past the end. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw compacted(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw unavailable(hi - 1, this.lastIndex());
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  /** @throws RaftError Compacted / Unavailable when i is outside [firstIndex-1, lastIndex]. */
  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw compacted(i, offset + 1);
    if (i - offset >= this.ents.length) throw unavailable(i, this.lastIndex());
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the whole log with a received snapshot. @throws RaftError SnapOutOfDate if not newer. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftError(RaftErrorCode.SnapOutOfDate, `Snapshot at index ${snap.metadata.index} is not newer than the one held (${this.snap.metadata.index}).`);
    }
    this.snap = snap;
    this.ents = [{ index: snap.metadata.index, term: snap.metadata.term, type: EntryType.Normal, data: new Uint8Array(0) }];
  }

  /**
   * Record the application's state at applied index i (the log is not cut; call compact()).
   * @throws RaftError SnapOutOfDate if i is not newer than the current snapshot, Unavailable if past the end.
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new RaftError(RaftErrorCode.SnapOutOfDate, `Snapshot at index ${i} is not newer than the one held (${this.snap.metadata.index}).`);
    }
    if (i > this.lastIndex()) throw unavailable(i, this.lastIndex());
    const offset = this.ents[0]!.index;
    this.snap = {
      metadata: { index: i, term: this.ents[i - offset]!.term, confState: cloneConfState(cs ?? this.snap.metadata.confState) },
      data,
    };
    return this.snap;
  }

  /** Discard entries up to and including i. @throws RaftError Compacted / Unavailable when out of range. */
  compact(i: number): void {
    const offset = this.ents[0]!.index;
    if (i <= offset) throw compacted(i, offset + 1);
    if (i > this.lastIndex()) throw unavailable(i, this.lastIndex());
    const kept = this.ents.slice(i - offset);
    kept[0] = { index: kept[0]!.index, term: kept[0]!.term, type: EntryType.Normal, data: new Uint8Array(0) };
    this.ents = kept;
  }

  /**
   * Append entries, replacing any conflicting suffix. Entries older than the first index are ignored.
   * @throws RaftError Unavailable when the entries leave a gap after the last index.
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    let es = entries;
    if (first > es[0]!.index) es = es.slice(first - es[0]!.index);
    const offset = es[0]!.index - this.ents[0]!.index;
    if (this.ents.length > offset) {
      this.ents = this.ents.slice(0, offset).concat(es);
    } else if (this.ents.length === offset) {
      this.ents = this.ents.concat(es);
    } else {
      throw unavailable(es[0]!.index, this.lastIndex());
    }
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}
