// Raft's durable state on disk: `dir/wal/` (./wal.ts) and `dir/snap/`
// (./snapshot-store.ts), and the core's MemoryStorage filled from them on start.
// The host loop persists each Ready through persist() before sending messages;
// persist() then updates the MemoryStorage, so the core reads back exactly what
// is durable.
import { join } from 'node:path';
import { MemoryStorage } from '../core/memory-storage.js';
import type { ConfState, Ready, Snapshot } from '../core/types.js';
import { nodeStorageFs, type StorageFs } from './fs.js';
import type { StorageLogger } from './logger.js';
import { DEFAULT_RETAIN_SNAPSHOTS, SnapshotStore } from './snapshot-store.js';
import { Wal, type WalOpenResult } from './wal.js';

/** Defaults for when to snapshot; the host loop applies the policy. */
export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 10_000;

export interface DiskStorageOptions {
  fs?: StorageFs;
  logger?: StorageLogger;
  /** WAL segment size. Default 64 MiB. */
  segmentBytes?: number;
  /** Snapshots kept on disk. Default 3. */
  retainSnapshots?: number;
  /** needsSnapshot() turns true this many entries after the last snapshot. Default 10,000. */
  snapshotEveryEntries?: number;
}

export interface DiskStorageBootstrap {
  /** Opaque bytes kept in every WAL segment (e.g. the member's ID and cluster ID). */
  metadata: Uint8Array;
  /**
   * The founding membership, for a member that founds a cluster: saved as the
   * snapshot MemoryStorage.bootstrap() starts from (index 1, term 1). Leave out
   * for a member joining an existing cluster: it starts empty and learns the
   * membership from the leader's snapshot.
   */
  confState?: ConfState;
}

export interface DiskStorageOpenResult {
  disk: DiskStorage;
  /** The core's storage: snapshot, hard state and entries as they are on disk. */
  memory: MemoryStorage;
  metadata: Uint8Array;
  /** The snapshot restored from; none for a joining member that has not received one yet. */
  snapshot?: Snapshot;
  /** Set when a torn WAL tail was cut off. */
  repaired?: WalOpenResult['repaired'];
}

/** The parts of a Ready that must be durable before messages are sent. */
export type DurableReady = Pick<Ready, 'hardState' | 'entries' | 'snapshot' | 'mustSync'>;

export class DiskStorage {
  readonly wal: Wal;
  readonly snapshots: SnapshotStore;
  readonly memory: MemoryStorage;
  private readonly retain: number;
  private readonly snapshotEvery: number;

  private constructor(wal: Wal, snapshots: SnapshotStore, memory: MemoryStorage, options: DiskStorageOptions) {
    this.wal = wal;
    this.snapshots = snapshots;
    this.memory = memory;
    this.retain = options.retainSnapshots ?? DEFAULT_RETAIN_SNAPSHOTS;
    this.snapshotEvery = options.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES;
  }

  /** True when `dir` holds a member's Raft state. */
  static async exists(dir: string, fs: StorageFs = nodeStorageFs): Promise<boolean> {
    return Wal.exists(join(dir, 'wal'), fs);
  }

  /**
   * Starts a new member's storage: an empty WAL and, for a founding member, the
   * founding snapshot and hard state of MemoryStorage.bootstrap().
   * Throws an Error when storage already exists in `dir`; file-system errors.
   */
  static async create(dir: string, bootstrap: DiskStorageBootstrap, options: DiskStorageOptions = {}): Promise<DiskStorageOpenResult> {
    const fs = options.fs ?? nodeStorageFs;
    if (await DiskStorage.exists(dir, fs)) {
      throw new Error(`Raft storage already exists in ${dir}; open it instead, or remove the directory to start over.`);
    }
    const snaps = await SnapshotStore.open(join(dir, 'snap'), options);
    const wal = await Wal.create(join(dir, 'wal'), bootstrap.metadata, options);
    try {
      if (bootstrap.confState) {
        const founding = MemoryStorage.bootstrap(bootstrap.confState);
        const snap = founding.snapshot();
        await snaps.save(snap);
        await wal.saveSnapshot({ index: snap.metadata.index, term: snap.metadata.term });
        await wal.save(founding.initialState().hardState, [], true);
      }
    } finally {
      await wal.close();
    }
    return DiskStorage.open(dir, options);
  }

  /**
   * Opens a member's storage: the newest valid snapshot (if any), then the WAL
   * after it, into a fresh MemoryStorage.
   * Throws DataLossError when the snapshots or the WAL are damaged (see Wal.open
   * and SnapshotStore.loadNewest); an Error when `dir` holds no storage;
   * file-system errors.
   */
  static async open(dir: string, options: DiskStorageOptions = {}): Promise<DiskStorageOpenResult> {
    const snaps = await SnapshotStore.open(join(dir, 'snap'), options);
    const snap = await snaps.loadNewest();
    const memory = new MemoryStorage();
    const opened = snap
      ? await Wal.open(join(dir, 'wal'), { ...options, snapshot: { index: snap.metadata.index, term: snap.metadata.term } })
      : await Wal.open(join(dir, 'wal'), options);
    if (snap) memory.applySnapshot(snap);
    // A snapshot holds only committed entries; a crash between saving a received
    // snapshot and the hard state after it can leave the saved commit behind it.
    const hs = opened.hardState;
    memory.setHardState({ ...hs, commit: Math.max(hs.commit, snap?.metadata.index ?? 0) });
    memory.append(opened.entries);
    const result: DiskStorageOpenResult = {
      disk: new DiskStorage(opened.wal, snaps, memory, options),
      memory,
      metadata: opened.metadata,
    };
    if (snap) result.snapshot = snap;
    if (opened.repaired) result.repaired = opened.repaired;
    return result;
  }

  /**
   * Makes a Ready's snapshot, hard state and entries durable (one fdatasync for
   * the hard state and entries when `mustSync`), then applies them to `memory`.
   * A received snapshot is saved first: file, then its WAL record.
   * Throws file-system errors (the WAL then refuses further writes) and the
   * MemoryStorage's errors.
   */
  async persist(rd: DurableReady): Promise<void> {
    if (rd.snapshot && rd.snapshot.metadata.index > 0) {
      await this.snapshots.save(rd.snapshot);
      await this.wal.saveSnapshot({ index: rd.snapshot.metadata.index, term: rd.snapshot.metadata.term });
    }
    await this.wal.save(rd.hardState, rd.entries, rd.mustSync);
    if (rd.snapshot && rd.snapshot.metadata.index > 0) this.memory.applySnapshot(rd.snapshot);
    if (rd.hardState) this.memory.setHardState(rd.hardState);
    this.memory.append(rd.entries);
  }

  /**
   * Saves a snapshot the application made (MemoryStorage.createSnapshot), keeps
   * the newest N, and deletes WAL segments that only the deleted ones needed:
   * the WAL is kept from the oldest retained snapshot on, so falling back to it
   * (when a newer one is damaged) still finds every entry after it.
   * Throws file-system errors.
   */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    await this.snapshots.save(snap);
    await this.wal.saveSnapshot({ index: snap.metadata.index, term: snap.metadata.term });
    await this.snapshots.retain(this.retain);
    const kept = await this.snapshots.list();
    const oldest = kept[kept.length - 1];
    if (oldest) await this.wal.releaseTo(oldest.index);
  }

  /** True once `applied` is `snapshotEveryEntries` or more past the newest snapshot. */
  needsSnapshot(applied: number): boolean {
    return applied - this.memory.snapshot().metadata.index >= this.snapshotEvery;
  }

  /** Closes the WAL (syncing unsynced writes). Throws file-system errors. */
  async close(): Promise<void> {
    await this.wal.close();
  }
}
