// A segmented write-ahead log for Raft's hard state and entries (after etcd's wal
// package; ideas only).
//
// Layout: `dir/<seq:016x>-<firstIndex:016x>.wal`, where `firstIndex` is the index
// the segment's first entry was expected to have when it was cut (the log's last
// index + 1). Every segment opens with the metadata record and the hard state
// known at the cut, so older segments can be deleted once a snapshot covers them.
// A new segment is written under a `.tmp` name, fsynced, renamed and the directory
// fsynced, so a crash never leaves a segment without its header; and the previous
// segment is fdatasynced before the cut, so only the last segment can have a torn
// tail. Segments are not preallocated (Node has no fallocate; zero-filling costs a
// full write), but recovery still accepts a zero-filled tail.
//
// Records are framed by ./record.ts. On open, a bad record in the last segment with
// nothing valid after it is a torn tail from a crash: it is cut off (and logged).
// Anything else — a bad record followed by valid ones, damage in an earlier
// segment, a missing segment, a gap in the entries — throws DataLossError naming
// the file and offset. Nothing is ever skipped silently.
//
// Known conservative case: a crash during an fdatasync on a disk that persisted a
// later sector of the batch but not an earlier one looks like corruption followed
// by a valid record, and stops the node although nothing acknowledged was lost.
import { join } from 'node:path';
import type { Entry, HardState } from '../core/types.js';
import {
  decodeEntry,
  decodeHardState,
  decodeWalSnapshot,
  encodeEntry,
  encodeHardState,
  encodeWalSnapshot,
  type SnapshotMark,
} from './codec.js';
import { DataLossError } from './errors.js';
import { nodeStorageFs, type FileHandle, type StorageFs } from './fs.js';
import { silentLogger, type StorageLogger } from './logger.js';
import {
  encodeRecords,
  findValidRecordAfter,
  RecordType,
  scanSegment,
  type ScannedRecord,
  type WalRecord,
} from './record.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface WalOptions {
  /** The file system seam (tests spy on it). Default: node:fs. */
  fs?: StorageFs;
  /** A segment is cut once it reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  logger?: StorageLogger;
}

export interface WalOpenOptions extends WalOptions {
  /** The snapshot the caller restores from: entries up to its index are not returned. */
  snapshot?: SnapshotMark;
}

export interface WalOpenResult {
  wal: Wal;
  /** The latest hard state saved; all zero for a new log. */
  hardState: HardState;
  /** Entries after the snapshot's index, with overwritten suffixes replaced. */
  entries: Entry[];
  metadata: Uint8Array;
  /** Snapshot records met while reading (from the starting segment on), oldest first. */
  snapshots: SnapshotMark[];
  /** Set when a torn tail was cut off. */
  repaired?: { file: string; offset: number; droppedBytes: number };
}

interface Segment {
  seq: number;
  firstIndex: number;
  name: string;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const hex16 = (n: number) => n.toString(16).padStart(16, '0');
export const segmentName = (seq: number, firstIndex: number) => `${hex16(seq)}-${hex16(firstIndex)}.wal`;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

async function listSegments(fs: StorageFs, dir: string): Promise<Segment[]> {
  const segs: Segment[] = [];
  for (const name of await fs.readdir(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m?.[1] && m[2]) segs.push({ seq: parseInt(m[1], 16), firstIndex: parseInt(m[2], 16), name });
  }
  return segs.sort((a, b) => a.seq - b.seq);
}

export class Wal {
  readonly dir: string;
  private readonly fs: StorageFs;
  private readonly segmentBytes: number;
  private readonly logger: StorageLogger;
  private readonly metadata: Uint8Array;
  private segs: Segment[];
  private fh: FileHandle;
  /** Write position in the last segment. */
  private offset: number;
  private dirty = false;
  private last: number;
  private hardState: HardState;
  private failed: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    dir: string,
    opts: WalOptions,
    state: { metadata: Uint8Array; segs: Segment[]; fh: FileHandle; offset: number; lastIndex: number; hardState: HardState },
  ) {
    this.dir = dir;
    this.fs = opts.fs ?? nodeStorageFs;
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.logger = opts.logger ?? silentLogger;
    this.metadata = state.metadata;
    this.segs = state.segs;
    this.fh = state.fh;
    this.offset = state.offset;
    this.last = state.lastIndex;
    this.hardState = state.hardState;
  }

  /** True when `dir` holds WAL segments. */
  static async exists(dir: string, fs: StorageFs = nodeStorageFs): Promise<boolean> {
    return (await listSegments(fs, dir)).length > 0;
  }

  /**
   * Creates a new, empty log in `dir` (built in `dir.tmp`, then renamed, so a crash
   * leaves either nothing or a whole log) and opens it.
   * Throws an Error when `dir` already holds a log, and file-system errors.
   */
  static async create(dir: string, metadata: Uint8Array, options: WalOptions = {}): Promise<Wal> {
    const fs = options.fs ?? nodeStorageFs;
    if (await Wal.exists(dir, fs)) {
      throw new Error(`A Raft WAL already exists in ${dir}; open it instead, or remove the directory to start over.`);
    }
    const tmp = `${dir}.tmp`;
    await fs.rmdir(tmp);
    await fs.mkdir(tmp);
    const name = segmentName(0, 1);
    const fh = await fs.open(join(tmp, name), 'create');
    try {
      await fs.write(fh, encodeRecords(0, 0, [{ type: RecordType.Metadata, payload: metadata }]), 0);
      await fs.datasync(fh);
    } finally {
      await fs.close(fh);
    }
    await fs.syncDir(tmp);
    await fs.rename(tmp, dir); // replaces an empty `dir`; fails on a non-empty one

    await fs.syncDir(join(dir, '..'));
    const { wal } = await Wal.open(dir, options);
    return wal;
  }

  /**
   * Opens the log in `dir`, replays it and makes it ready to append.
   * Throws DataLossError when the log is damaged anywhere but a torn tail, or
   * cannot supply the entries after `options.snapshot`; an Error when `dir` holds
   * no log; file-system errors.
   */
  static async open(dir: string, options: WalOpenOptions = {}): Promise<WalOpenResult> {
    const fs = options.fs ?? nodeStorageFs;
    const logger = options.logger ?? silentLogger;
    for (const name of await fs.readdir(dir)) {
      if (name.endsWith('.wal.tmp')) await fs.unlink(join(dir, name)); // a cut that never completed
    }
    const segs = await listSegments(fs, dir);
    if (segs.length === 0) throw new Error(`No Raft WAL in ${dir}; create one first.`);
    for (let i = 1; i < segs.length; i++) {
      const prev = segs[i - 1]!;
      const cur = segs[i]!;
      if (cur.seq !== prev.seq + 1) {
        throw new DataLossError(join(dir, cur.name), undefined, `the segment before it (sequence ${prev.seq + 1}) is missing`);
      }
    }
    const snap = options.snapshot ?? { index: 0, term: 0 };
    // The last segment whose first index is at or below the snapshot's: entries after
    // the snapshot are there or later. Earlier segments are not read at all.
    let start = 0;
    for (let i = 0; i < segs.length; i++) if (segs[i]!.firstIndex <= snap.index) start = i;

    const base = snap.index;
    const entries: Entry[] = [];
    const snapshots: SnapshotMark[] = [];
    let hardState: HardState = EMPTY_HARD_STATE;
    let metadata: Uint8Array | undefined;
    let repaired: WalOpenResult['repaired'];
    let tailEnd = 0;

    for (let i = start; i < segs.length; i++) {
      const seg = segs[i]!;
      const file = join(dir, seg.name);
      const isLast = i === segs.length - 1;
      const buf = await fs.readFile(file);
      const scan = scanSegment(buf, seg.seq);
      if (scan.failure) {
        const f = scan.failure;
        if (!isLast) throw new DataLossError(file, f.offset, `found ${f.reason} in a segment that is not the last`);
        if (!f.maybeTorn) throw new DataLossError(file, f.offset, `found ${f.reason}`);
        const after = findValidRecordAfter(buf, seg.seq, f.offset);
        if (after.kind === 'valid') {
          throw new DataLossError(file, f.offset, `found ${f.reason}, followed by a valid record at offset ${after.offset}`);
        }
        if (after.kind === 'gave-up') {
          // Never guess: cutting here could drop acknowledged records.
          throw new DataLossError(file, f.offset, `found ${f.reason}, and could not rule out valid records after it (the scan gave up at offset ${after.offset})`);
        }
      }
      const first = scan.records[0];
      if (first?.type !== RecordType.Metadata) {
        throw new DataLossError(file, 0, 'the segment does not start with its metadata record');
      }
      metadata ??= first.payload;
      for (const rec of scan.records) replay(file, rec);
      if (isLast) {
        tailEnd = scan.validEnd;
        if (scan.failure) {
          repaired = { file, offset: scan.validEnd, droppedBytes: buf.length - scan.validEnd };
          logger.warn(
            { 'wal.file': file, 'wal.offset': scan.validEnd, 'wal.dropped_bytes': repaired.droppedBytes, 'wal.reason': scan.failure.reason },
            'Cut a torn record off the end of the Raft WAL (left by a crash during a write).',
          );
        }
      }
    }

    function replay(file: string, rec: ScannedRecord): void {
      try {
        switch (rec.type) {
          case RecordType.Metadata:
            return;
          case RecordType.HardState:
            hardState = decodeHardState(rec.payload);
            return;
          case RecordType.Snapshot: {
            const mark = decodeWalSnapshot(rec.payload);
            if (mark.index === snap.index && snap.index > 0 && mark.term !== snap.term) {
              throw new DataLossError(file, rec.offset, `the WAL saw a snapshot at index ${mark.index} with term ${mark.term}, but the snapshot given has term ${snap.term}`);
            }
            snapshots.push(mark);
            return;
          }
          case RecordType.Entry: {
            const e = decodeEntry(rec.payload);
            if (e.index <= base) return;
            const at = e.index - base - 1;
            if (at > entries.length) {
              const had = base + entries.length;
              throw new DataLossError(
                file,
                rec.offset,
                `entry ${e.index} follows entry ${had}, so entries in between are missing` +
                  (options.snapshot ? '' : ' (was a snapshot that covers them not given?)'),
              );
            }
            entries.length = at; // a new leader's entries replace the old suffix
            entries.push(e);
            return;
          }
        }
      } catch (err) {
        if (err instanceof DataLossError) throw err;
        throw new DataLossError(file, rec.offset, 'a record verified but could not be decoded', { cause: err });
      }
    }

    const lastSeg = segs[segs.length - 1]!;
    const lastFile = join(dir, lastSeg.name);
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : base;
    const committed = hardState.commit;
    if (committed > lastIndex) {
      throw new DataLossError(
        lastFile,
        undefined,
        `the hard state says entries up to ${committed} are committed, but the log ends at ${lastIndex}`,
      );
    }
    const fh = await fs.open(lastFile, 'existing');
    try {
      if (repaired) {
        await fs.truncate(fh, tailEnd);
        await fs.datasync(fh);
      }
    } catch (err) {
      await fs.close(fh);
      throw err;
    }
    const wal = new Wal(dir, options, {
      metadata: metadata ?? new Uint8Array(0),
      segs,
      fh,
      offset: tailEnd,
      lastIndex,
      hardState,
    });
    const result: WalOpenResult = { wal, hardState, entries, metadata: wal.metadata, snapshots };
    if (repaired) result.repaired = repaired;
    return result;
  }

  /** The index of the last entry saved (or of the last snapshot, when later). */
  get lastIndex(): number {
    return this.last;
  }

  /** Segment file names, oldest first. */
  get segmentNames(): string[] {
    return this.segs.map((s) => s.name);
  }

  /**
   * Appends a hard state and entries as one batch and, when `sync`, makes
   * everything written so far durable with one fdatasync (group commit: call once
   * per Ready). Entries whose index is at or below the last one replace that suffix.
   * Throws TypeError for non-contiguous entries or a gap after the last index;
   * file-system errors, after which this WAL refuses all further writes.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], sync: boolean): Promise<void> {
    return this.exclusive(async () => {
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.index !== entries[i - 1]!.index + 1) {
          throw new TypeError(`WAL entries must be contiguous: ${entries[i]!.index} follows ${entries[i - 1]!.index}.`);
        }
      }
      const first = entries[0];
      if (first && first.index > this.last + 1) {
        throw new TypeError(`Saving entry ${first.index} after last index ${this.last} would leave a gap in the WAL.`);
      }
      const records: WalRecord[] = [];
      for (const e of entries) records.push({ type: RecordType.Entry, payload: encodeEntry(e) });
      if (hardState) records.push({ type: RecordType.HardState, payload: encodeHardState(hardState) });
      await this.append(records, sync);
      if (hardState) this.hardState = hardState;
      const lastEntry = entries[entries.length - 1];
      if (lastEntry) this.last = lastEntry.index;
      if (this.offset >= this.segmentBytes) await this.cut();
    });
  }

  /**
   * Records (and fsyncs) that a snapshot at `mark` was saved. Call after the
   * snapshot file is durable and before releaseTo.
   * Throws file-system errors, after which this WAL refuses all further writes.
   */
  saveSnapshot(mark: SnapshotMark): Promise<void> {
    return this.exclusive(async () => {
      await this.append([{ type: RecordType.Snapshot, payload: encodeWalSnapshot(mark) }], true);
      if (mark.index > this.last) this.last = mark.index;
    });
  }

  /** Makes every write so far durable. Throws file-system errors. */
  sync(): Promise<void> {
    return this.exclusive(async () => this.append([], true));
  }

  /**
   * Deletes segments holding only entries before `index` (which a durable
   * snapshot must cover). The segment holding `index` and later ones stay.
   * Throws file-system errors.
   */
  releaseTo(index: number): Promise<void> {
    return this.exclusive(async () => {
      let keep = 0;
      for (let i = 0; i < this.segs.length; i++) if (this.segs[i]!.firstIndex <= index) keep = i;
      if (keep === 0) return;
      const gone = this.segs.slice(0, keep);
      for (const s of gone) await this.fs.unlink(join(this.dir, s.name));
      this.segs = this.segs.slice(keep);
      await this.fs.syncDir(this.dir);
    });
  }

  /**
   * Syncs unsynced writes (unless a write failed) and closes the file. Safe to
   * call more than once; later calls to other methods throw.
   * Throws file-system errors.
   */
  close(): Promise<void> {
    this.closing ??= this.queue.then(async () => {
      this.closed = true;
      try {
        if (this.dirty && !this.failed) await this.fs.datasync(this.fh);
      } finally {
        await this.fs.close(this.fh);
      }
    });
    return this.closing;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new Error(`The Raft WAL in ${this.dir} is closed.`);
      if (this.failed) {
        throw new Error(`The Raft WAL in ${this.dir} failed a write earlier and cannot be trusted; restart the member.`, {
          cause: this.failed,
        });
      }
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(records: WalRecord[], sync: boolean): Promise<void> {
    const seg = this.segs[this.segs.length - 1]!;
    try {
      if (records.length > 0) {
        const buf = encodeRecords(seg.seq, this.offset, records);
        await this.fs.write(this.fh, buf, this.offset);
        this.offset += buf.length;
        this.dirty = true;
      }
      if (sync && this.dirty) {
        await this.fs.datasync(this.fh);
        this.dirty = false;
      }
    } catch (err) {
      // After a failed write or fsync the page cache and the disk may disagree
      // (fsyncgate): never retry, make the member restart and recover from disk.
      this.failed = err as Error;
      throw err;
    }
  }

  /** Starts a new segment: the old one is made durable first, the new one appears whole. */
  private async cut(): Promise<void> {
    const prev = this.segs[this.segs.length - 1]!;
    try {
      if (this.dirty) await this.fs.datasync(this.fh);
      this.dirty = false;
      await this.fs.close(this.fh);
      const seg: Segment = { seq: prev.seq + 1, firstIndex: this.last + 1, name: segmentName(prev.seq + 1, this.last + 1) };
      const path = join(this.dir, seg.name);
      const header: WalRecord[] = [
        { type: RecordType.Metadata, payload: this.metadata },
        { type: RecordType.HardState, payload: encodeHardState(this.hardState) },
      ];
      const buf = encodeRecords(seg.seq, 0, header);
      const fh = await this.fs.open(`${path}.tmp`, 'create');
      this.fh = fh;
      await this.fs.write(fh, buf, 0);
      await this.fs.datasync(fh);
      await this.fs.rename(`${path}.tmp`, path);
      await this.fs.syncDir(this.dir);
      this.segs.push(seg);
      this.offset = buf.length;
    } catch (err) {
      this.failed = err as Error;
      throw err;
    }
  }
}
