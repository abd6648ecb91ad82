// The WAL's record framing, as pure functions over bytes.
//
//   [length u32 LE][crc u32 LE][type u8][payload: length bytes]
//
// The CRC-32C covers each record on its own, bound to where it was written:
//   crc = crc32c(type ‖ payload, seed = crc32c(segmentSeq u64 ‖ offset u64 ‖ length u32))
// Binding the segment's sequence number and the record's byte offset into the CRC
// gives what a chained CRC gives (a record copied, shifted or left over from some
// other file or place does not verify) while keeping every record checkable on
// its own. That matters on recovery: after the first bad record the reader scans
// the rest of the segment for any record that verifies where it lies, which is how
// "corruption followed by valid records" is told apart from a torn tail. It also
// means a record embedded in an entry's payload (someone storing a WAL file as a
// value) never verifies at the offset it sits at.
import { crc32c } from '@node-rs/crc32';

export const RECORD_HEADER_BYTES = 9;

export const RecordType = {
  /** The WAL's metadata (opaque bytes); first record of every segment. */
  Metadata: 1,
  Entry: 2,
  HardState: 3,
  /** A RaftWalSnapshot: a snapshot at (index, term) was saved. */
  Snapshot: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const isRecordType = (t: number): t is RecordType => t >= 1 && t <= 4;

export interface WalRecord {
  type: RecordType;
  payload: Uint8Array;
}

export interface ScannedRecord extends WalRecord {
  /** Byte offset of the record's header in its segment. */
  offset: number;
}

const bind = Buffer.alloc(20);

function seedFor(seq: number, offset: number, length: number): number {
  bind.writeUInt32LE(seq >>> 0, 0);
  bind.writeUInt32LE(Math.floor(seq / 0x1_0000_0000), 4);
  bind.writeUInt32LE(offset >>> 0, 8);
  bind.writeUInt32LE(Math.floor(offset / 0x1_0000_0000), 12);
  bind.writeUInt32LE(length, 16);
  return crc32c(bind);
}

/** Frames `records` as they will lie in segment `seq` from byte `offset` on. */
export function encodeRecords(seq: number, offset: number, records: readonly WalRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += RECORD_HEADER_BYTES + r.payload.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const r of records) {
    const len = r.payload.length;
    out.writeUInt32LE(len, at);
    out[at + 8] = r.type;
    out.set(r.payload, at + RECORD_HEADER_BYTES);
    const crc = crc32c(out.subarray(at + 8, at + RECORD_HEADER_BYTES + len), seedFor(seq, offset + at, len));
    out.writeUInt32LE(crc, at + 4);
    at += RECORD_HEADER_BYTES + len;
  }
  return out;
}

export interface ScanFailure {
  offset: number;
  reason: string;
  /** False when the record verified but cannot be understood (never a torn write). */
  maybeTorn: boolean;
}

export interface ScanResult {
  records: ScannedRecord[];
  /** End of the last good record: where a torn tail is cut. */
  validEnd: number;
  failure?: ScanFailure;
}

/** Reads the record at `at`: a record, or why there is none. */
function readAt(buf: Buffer, seq: number, at: number): ScannedRecord | ScanFailure {
  const left = buf.length - at;
  if (left < RECORD_HEADER_BYTES) {
    return { offset: at, reason: `a partial record header (${left} of ${RECORD_HEADER_BYTES} bytes)`, maybeTorn: true };
  }
  const len = buf.readUInt32LE(at);
  const crc = buf.readUInt32LE(at + 4);
  const type = buf[at + 8] ?? 0;
  if (len === 0 && crc === 0 && type === 0) {
    return { offset: at, reason: 'zeroes where a record header should be', maybeTorn: true };
  }
  if (len > left - RECORD_HEADER_BYTES) {
    return {
      offset: at,
      reason: `a record of ${len} bytes running past the end of the file (${left - RECORD_HEADER_BYTES} left)`,
      maybeTorn: true,
    };
  }
  const body = buf.subarray(at + 8, at + RECORD_HEADER_BYTES + len);
  if (crc32c(body, seedFor(seq, at, len)) !== crc) {
    return { offset: at, reason: 'a record whose CRC-32C does not match', maybeTorn: true };
  }
  if (!isRecordType(type)) {
    return { offset: at, reason: `a record of unknown type ${type}`, maybeTorn: false };
  }
  return { type, payload: buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len), offset: at };
}

const isFailure = (r: ScannedRecord | ScanFailure): r is ScanFailure => 'reason' in r;

/** Reads records from the start of segment `seq` until the end or the first bad one. */
export function scanSegment(buf: Buffer, seq: number): ScanResult {
  const records: ScannedRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    const r = readAt(buf, seq, at);
    if (isFailure(r)) return { records, validEnd: at, failure: r };
    records.push(r);
    at += RECORD_HEADER_BYTES + r.payload.length;
  }
  return { records, validEnd: at };
}

/** What the scan after a bad record found. */
export type AfterScan =
  | { kind: 'none' }
  | { kind: 'valid'; offset: number }
  /** The scan stopped at `offset` after checking `budget` bytes without an answer. */
  | { kind: 'gave-up'; offset: number };

/**
 * Looks for any record after `from` that verifies where it lies. Used only on
 * the recovery path, after a bad record: a torn tail has nothing valid behind it.
 * Candidates are cheap to rule out in ordinary data (the type byte and the
 * length must both be plausible), but data crafted to look like headers could
 * make the CRC work quadratic, so it is bounded by `budget` bytes checked.
 */
export function findValidRecordAfter(buf: Buffer, seq: number, from: number, budget = 256 * 1024 * 1024 + 16 * (buf.length - from)): AfterScan {
  let spent = 0;
  for (let p = from + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    const type = buf[p + 8] ?? 0;
    if (!isRecordType(type)) continue;
    const len = buf.readUInt32LE(p);
    if (len > buf.length - p - RECORD_HEADER_BYTES) continue;
    spent += len + RECORD_HEADER_BYTES;
    if (spent > budget) return { kind: 'gave-up', offset: p };
    const crc = buf.readUInt32LE(p + 4);
    if (crc32c(buf.subarray(p + 8, p + RECORD_HEADER_BYTES + len), seedFor(seq, p, len)) === crc) return { kind: 'valid', offset: p };
  }
  return { kind: 'none' };
}
