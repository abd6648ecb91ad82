// A simulated disk for one node: writes land in the page cache (`volatile`,
// what the running node reads) and become durable only when fsync() runs; a
// crash keeps just the durable state. Snapshot files are written durably at
// once (write temp, fsync, rename), as the real snapshotter does.

import { MemoryStorage } from '../core/memory-storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';

type Op = { kind: 'entries'; entries: Entry[] } | { kind: 'hardState'; hs: HardState } | { kind: 'snapshot'; snap: Snapshot };

function applyOp(st: MemoryStorage, op: Op): void {
  switch (op.kind) {
    case 'entries':
      st.append(op.entries);
      return;
    case 'hardState':
      st.setHardState(op.hs);
      return;
    case 'snapshot':
      if (op.snap.metadata.index > st.snapshot().metadata.index) st.applySnapshot(op.snap);
      return;
  }
}

/** A copy of a storage (the same entries, hard state and snapshot). */
export function cloneStorage(src: MemoryStorage): MemoryStorage {
  const out = new MemoryStorage();
  const snap = src.snapshot();
  if (snap.metadata.index > 0) out.applySnapshot(snap);
  const first = src.firstIndex();
  const last = src.lastIndex();
  if (last >= first) out.append(src.entries(first, last + 1, Number.MAX_SAFE_INTEGER));
  out.setHardState(src.hardStateNow());
  return out;
}

export class SimDisk {
  volatile: MemoryStorage;
  durable: MemoryStorage;
  private pending: Op[] = [];

  constructor(initial: MemoryStorage) {
    this.durable = initial;
    this.volatile = cloneStorage(initial);
  }

  writeEntries(entries: Entry[]): void {
    if (entries.length === 0) return;
    this.volatile.append(entries);
    this.pending.push({ kind: 'entries', entries });
  }

  writeHardState(hs: HardState): void {
    this.volatile.setHardState(hs);
    this.pending.push({ kind: 'hardState', hs });
  }

  writeSnapshot(snap: Snapshot): void {
    this.volatile.applySnapshot(snap);
    this.pending.push({ kind: 'snapshot', snap });
  }

  fsync(): void {
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
  }

  hasUnsynced(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Take a local snapshot at `index` and cut the log `keep` entries before it, durably (the snapshot
   * file is fsynced and renamed before the log is cut). Returns false when the disk does not hold
   * entry `index` durably yet.
   */
  snapshotAndCompact(index: number, cs: ConfState, data: Uint8Array, keep: number): boolean {
    if (index <= this.durable.snapshot().metadata.index || index > this.durable.lastIndex()) return false;
    if (index <= this.volatile.snapshot().metadata.index || index > this.volatile.lastIndex()) return false;
    this.volatile.createSnapshot(index, cs, data);
    this.durable.createSnapshot(index, cs, data);
    const cut = index - keep;
    if (cut >= this.volatile.firstIndex()) this.volatile.compact(cut);
    if (cut >= this.durable.firstIndex()) this.durable.compact(cut);
    return true;
  }

  /** Power loss: unsynced writes vanish; the page cache is rebuilt from disk. */
  crash(): void {
    this.pending = [];
    this.volatile = cloneStorage(this.durable);
  }
}
