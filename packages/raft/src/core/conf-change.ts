// The byte form of a ConfChange inside a ConfChange entry. The core must read
// it back without protobuf (the core imports nothing), so it is a tiny fixed
// layout: [type u8][id length u16 BE][id UTF-8][context...].

import { RaftError, RaftErrorCode } from './errors.js';
import type { ConfChange, ConfChangeType } from './types.js';

const TYPES: ConfChangeType[] = ['AddNode', 'AddLearner', 'RemoveNode'];
const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = enc.encode(cc.nodeId);
  const out = new Uint8Array(3 + id.length + cc.context.length);
  out[0] = TYPES.indexOf(cc.type);
  out[1] = (id.length >> 8) & 0xff;
  out[2] = id.length & 0xff;
  out.set(id, 3);
  out.set(cc.context, 3 + id.length);
  return out;
}

/** @throws RaftError InvalidConfig when the bytes are not an encoded ConfChange. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const type = TYPES[data[0] ?? 255];
  if (data.length < 3 || type === undefined) {
    throw new RaftError(RaftErrorCode.InvalidConfig, 'A ConfChange entry holds malformed data; the log is corrupt.');
  }
  const n = (data[1]! << 8) | data[2]!;
  if (3 + n > data.length) {
    throw new RaftError(RaftErrorCode.InvalidConfig, 'A ConfChange entry holds malformed data; the log is corrupt.');
  }
  return { type, nodeId: dec.decode(data.subarray(3, 3 + n)), context: data.slice(3 + n) };
}
