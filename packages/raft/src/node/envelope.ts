// The node's own framing inside Raft snapshots and membership-change
// contexts. A snapshot carries the member address book next to the
// application's bytes, so a member restored from it (after a restart, or a
// joiner catching up) can reach every peer added before the snapshot.
import type { Peer } from '../transport/transport.js';

const MAGIC = 0x53_4e_4f_44; // "SNOD"
const enc = new TextEncoder();
const dec = new TextDecoder();

export interface SnapshotEnvelope {
  members: Peer[];
  app: Uint8Array;
}

export function encodeSnapshotEnvelope(s: SnapshotEnvelope): Uint8Array {
  const members = enc.encode(JSON.stringify(s.members));
  const out = new Uint8Array(8 + members.length + s.app.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, members.length);
  out.set(members, 8);
  out.set(s.app, 8 + members.length);
  return out;
}

/**
 * Empty data (the founding snapshot of MemoryStorage.bootstrap) gives no members and no app state.
 * @throws Error when the bytes are not an envelope (a snapshot not written by RaftNode).
 */
export function decodeSnapshotEnvelope(data: Uint8Array): SnapshotEnvelope | undefined {
  if (data.length === 0) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8 || view.getUint32(0) !== MAGIC || 8 + view.getUint32(4) > data.length) {
    throw new Error('A Raft snapshot was not written by RaftNode (bad envelope); restore this member from a good snapshot.');
  }
  const n = view.getUint32(4);
  const members = JSON.parse(dec.decode(data.subarray(8, 8 + n))) as Peer[];
  return { members, app: data.subarray(8 + n) };
}

/** A membership change's context: where the member listens (and the application's opaque meta). */
export function encodeMemberContext(p: Omit<Peer, 'id'>): Uint8Array {
  return enc.encode(JSON.stringify(p.meta === undefined ? { addr: p.addr } : { addr: p.addr, meta: p.meta }));
}

export function decodeMemberContext(data: Uint8Array): Omit<Peer, 'id'> | undefined {
  if (data.length === 0) return undefined;
  try {
    const v = JSON.parse(dec.decode(data)) as { addr?: unknown; meta?: unknown };
    if (typeof v.addr !== 'string') return undefined;
    return typeof v.meta === 'string' ? { addr: v.addr, meta: v.meta } : { addr: v.addr };
  } catch {
    return undefined;
  }
}
