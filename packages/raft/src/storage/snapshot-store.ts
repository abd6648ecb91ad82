// Snapshot files: `dir/<term:016x>-<index:016x>.snap`, each
//   [crc32c u32 LE of the payload][payload: an encoded RaftSnapshot]
// written to `<name>.tmp`, fsynced, renamed into place and the directory fsynced,
// so a crash leaves the old set of snapshots or the new one, never a half file
// under a final name. Name order is (term, index) order, which is log order.
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { Snapshot } from '../core/types.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotMark } from './codec.js';
import { DataLossError } from './errors.js';
import { nodeStorageFs, type StorageFs } from './fs.js';
import { silentLogger, type StorageLogger } from './logger.js';

export const DEFAULT_RETAIN_SNAPSHOTS = 3;

export interface SnapshotStoreOptions {
  fs?: StorageFs;
  logger?: StorageLogger;
  /** How many snapshots retain() keeps by default. Default 3. */
  retain?: number;
}

const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const hex16 = (n: number) => n.toString(16).padStart(16, '0');
export const snapshotName = (m: SnapshotMark) => `${hex16(m.term)}-${hex16(m.index)}.snap`;

export class SnapshotStore {
  readonly dir: string;
  private readonly fs: StorageFs;
  private readonly logger: StorageLogger;
  private readonly keep: number;

  private constructor(dir: string, options: SnapshotStoreOptions) {
    this.dir = dir;
    this.fs = options.fs ?? nodeStorageFs;
    this.logger = options.logger ?? silentLogger;
    this.keep = options.retain ?? DEFAULT_RETAIN_SNAPSHOTS;
  }

  /**
   * Opens (creating if needed) the snapshot directory and removes temp files a
   * crash left behind. Throws file-system errors.
   */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    const store = new SnapshotStore(dir, options);
    await store.fs.mkdir(dir);
    let removed = false;
    for (const name of await store.fs.readdir(dir)) {
      if (name.endsWith('.snap.tmp')) {
        await store.fs.unlink(join(dir, name));
        removed = true;
      }
    }
    if (removed) await store.fs.syncDir(dir);
    return store;
  }

  /** The snapshots on disk, newest first (by name; contents unchecked). */
  async list(): Promise<SnapshotMark[]> {
    const marks: SnapshotMark[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = SNAP_RE.exec(name);
      if (m?.[1] && m[2]) marks.push({ term: parseInt(m[1], 16), index: parseInt(m[2], 16) });
    }
    return marks.sort((a, b) => b.term - a.term || b.index - a.index);
  }

  /**
   * Writes `snapshot` durably and atomically; returns its file path.
   * Throws file-system errors (the previous snapshots are then untouched).
   */
  async save(snapshot: Snapshot): Promise<string> {
    const payload = encodeSnapshot(snapshot);
    const buf = Buffer.allocUnsafe(4 + payload.length);
    buf.writeUInt32LE(crc32c(payload), 0);
    buf.set(payload, 4);
    const path = join(this.dir, snapshotName(snapshot.metadata));
    const tmp = `${path}.tmp`;
    const fh = await this.fs.open(tmp, 'create');
    try {
      await this.fs.write(fh, buf, 0);
      await this.fs.fsync(fh);
    } finally {
      await this.fs.close(fh);
    }
    await this.fs.rename(tmp, path);
    await this.fs.syncDir(this.dir);
    return path;
  }

  /**
   * Reads and verifies one snapshot. Throws DataLossError when the file is
   * damaged or does not hold what its name says; file-system errors.
   */
  async load(mark: SnapshotMark): Promise<Snapshot> {
    const path = join(this.dir, snapshotName(mark));
    const buf = await this.fs.readFile(path);
    if (buf.length < 4) throw new DataLossError(path, 0, `the snapshot file is ${buf.length} bytes, too short to hold a CRC`);
    const payload = buf.subarray(4);
    if (crc32c(payload) !== buf.readUInt32LE(0)) {
      throw new DataLossError(path, 0, 'the snapshot CRC-32C does not match its content');
    }
    let snap: Snapshot;
    try {
      snap = decodeSnapshot(payload);
    } catch (err) {
      throw new DataLossError(path, 4, 'the snapshot verified but could not be decoded', { cause: err });
    }
    if (snap.metadata.index !== mark.index || snap.metadata.term !== mark.term) {
      throw new DataLossError(path, 4, `the snapshot holds index ${snap.metadata.index} term ${snap.metadata.term}, not what its name says`);
    }
    return snap;
  }

  /**
   * The newest valid snapshot, or undefined when there is none. A damaged newer
   * snapshot is renamed to `*.broken` and skipped, with a warning, only when an
   * older valid one exists. `accept` can rule out snapshots (e.g. ones the WAL
   * does not know of) without treating them as damaged.
   * Throws DataLossError (naming the newest damaged file) when snapshots exist
   * but none is valid; file-system errors.
   */
  async loadNewest(accept: (mark: SnapshotMark) => boolean = () => true): Promise<Snapshot | undefined> {
    const damaged: { mark: SnapshotMark; err: DataLossError }[] = [];
    for (const mark of await this.list()) {
      if (!accept(mark)) continue;
      let snap: Snapshot;
      try {
        snap = await this.load(mark);
      } catch (err) {
        if (!(err instanceof DataLossError)) throw err;
        damaged.push({ mark, err });
        continue;
      }
      for (const d of damaged) {
        const path = join(this.dir, snapshotName(d.mark));
        this.logger.warn(
          { 'snapshot.file': path, 'snapshot.index': d.mark.index, 'snapshot.fallback_index': mark.index, err: d.err.message },
          'Skipped a damaged Raft snapshot (renamed to .broken) in favour of an older valid one.',
        );
        await this.fs.rename(path, `${path}.broken`);
      }
      if (damaged.length > 0) await this.fs.syncDir(this.dir);
      return snap;
    }
    if (damaged[0]) throw damaged[0].err;
    return undefined;
  }

  /** Deletes all but the newest `n` snapshots (default: the configured 3). Throws file-system errors. */
  async retain(n: number = this.keep): Promise<void> {
    const marks = await this.list();
    if (marks.length <= n) return;
    for (const m of marks.slice(Math.max(n, 0))) await this.fs.unlink(join(this.dir, snapshotName(m)));
    await this.fs.syncDir(this.dir);
  }
}
