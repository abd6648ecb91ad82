// The KV service's replicated state: a Map of string keys to byte values, and
// the commands that change it, in a small binary form (one Raft entry each).
import { createHash } from 'node:crypto';
import type { StateMachine } from '../node/raft-node.js';

export type KvCommand =
  | { op: 'put'; key: string; value: Uint8Array }
  | { op: 'append'; key: string; value: Uint8Array }
  | { op: 'cas'; key: string; expected: Uint8Array | undefined; value: Uint8Array };

export interface KvCasResult {
  succeeded: boolean;
  /** The value the comparison saw; undefined when the key was missing. */
  current: Uint8Array | undefined;
}

const OPS = ['put', 'append', 'cas'] as const;
const enc = new TextEncoder();
const dec = new TextDecoder();

// Layout: [op u8][key length u32][key][expected-present u8][expected length u32][expected][value...]
// (the expected fields only for cas).
export function encodeKvCommand(c: KvCommand): Uint8Array {
  const key = enc.encode(c.key);
  const exp = c.op === 'cas' ? c.expected : undefined;
  const extra = c.op === 'cas' ? 5 + (exp?.length ?? 0) : 0;
  const out = new Uint8Array(5 + key.length + extra + c.value.length);
  const view = new DataView(out.buffer);
  out[0] = OPS.indexOf(c.op);
  view.setUint32(1, key.length);
  out.set(key, 5);
  let at = 5 + key.length;
  if (c.op === 'cas') {
    out[at] = exp ? 1 : 0;
    view.setUint32(at + 1, exp?.length ?? 0);
    if (exp) out.set(exp, at + 5);
    at += 5 + (exp?.length ?? 0);
  }
  out.set(c.value, at);
  return out;
}

/** @throws Error on bytes that are not a KV command (the log is not a KV log). */
export function decodeKvCommand(b: Uint8Array): KvCommand {
  const op = OPS[b[0] ?? 255];
  if (!op || b.length < 5) throw new Error('A Raft entry is not a KV command; the data directory belongs to another application.');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const klen = view.getUint32(1);
  const key = dec.decode(b.subarray(5, 5 + klen));
  let at = 5 + klen;
  if (op === 'cas') {
    const has = b[at] === 1;
    const elen = view.getUint32(at + 1);
    const expected = has ? b.slice(at + 5, at + 5 + elen) : undefined;
    at += 5 + elen;
    return { op, key, expected, value: b.slice(at) };
  }
  return { op, key, value: b.slice(at) };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class KvStateMachine implements StateMachine {
  private data = new Map<string, Uint8Array>();

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  /** put/append return undefined; cas returns a KvCasResult. Throws on a malformed command. */
  apply(bytes: Uint8Array): unknown {
    const c = decodeKvCommand(bytes);
    switch (c.op) {
      case 'put':
        this.data.set(c.key, c.value);
        return undefined;
      case 'append': {
        const cur = this.data.get(c.key);
        if (!cur) {
          this.data.set(c.key, c.value);
        } else {
          const next = new Uint8Array(cur.length + c.value.length);
          next.set(cur);
          next.set(c.value, cur.length);
          this.data.set(c.key, next);
        }
        return undefined;
      }
      case 'cas': {
        const cur = this.data.get(c.key);
        const ok = c.expected === undefined ? cur === undefined : cur !== undefined && bytesEqual(cur, c.expected);
        if (ok) this.data.set(c.key, c.value);
        return { succeeded: ok, current: cur } satisfies KvCasResult;
      }
    }
  }

  private sorted(): [string, Uint8Array][] {
    return [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // Layout: repeated [key length u32][key][value length u32][value], sorted by key.
  snapshot(): Uint8Array {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (const [k, v] of this.sorted()) {
      const kb = enc.encode(k);
      const head = new Uint8Array(4);
      new DataView(head.buffer).setUint32(0, kb.length);
      const vhead = new Uint8Array(4);
      new DataView(vhead.buffer).setUint32(0, v.length);
      parts.push(head, kb, vhead, v);
      size += 8 + kb.length + v.length;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  restore(b: Uint8Array): void {
    const data = new Map<string, Uint8Array>();
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let at = 0;
    while (at < b.length) {
      const kl = view.getUint32(at);
      const key = dec.decode(b.subarray(at + 4, at + 4 + kl));
      at += 4 + kl;
      const vl = view.getUint32(at);
      data.set(key, b.slice(at + 4, at + 4 + vl));
      at += 4 + vl;
    }
    this.data = data;
  }

  /** SHA-256 (hex) over the sorted keys and values: equal on replicas holding the same state. */
  stateHash(): string {
    const h = createHash('sha256');
    for (const [k, v] of this.sorted()) {
      const kb = enc.encode(k);
      const len = Buffer.alloc(8);
      len.writeUInt32BE(kb.length, 0);
      len.writeUInt32BE(v.length, 4);
      h.update(len).update(kb).update(v);
    }
    return h.digest('hex');
  }
}
