// Pending ReadIndex requests on the leader (ReadOnlySafe): each waits for a
// heartbeat round acknowledged by a quorum, which proves that no newer leader
// existed when the read's commit index was recorded.

import type { Message, NodeId } from './types.js';

export const ReadOnlyOption = {
  /** Confirm leadership with a heartbeat round per read batch (default; linearizable without clocks). */
  Safe: 'Safe',
  /** Trust the leader lease (needs checkQuorum; assumes bounded clock drift). */
  LeaseBased: 'LeaseBased',
} as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

const key = (ctx: Uint8Array): string => {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
};

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  add(index: number, m: Message): void {
    const k = key(m.context ?? new Uint8Array(0));
    if (this.pending.has(k)) return;
    this.pending.set(k, { req: m, index, acks: new Set() });
    this.queue.push(k);
  }

  /** Record an ack for ctx; returns the acks so far (undefined if unknown ctx). */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(key(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Release every request queued up to and including ctx (an ack for a later round confirms earlier ones). */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const k = key(ctx);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const d of done) {
      const rs = this.pending.get(d);
      if (rs) out.push(rs);
      this.pending.delete(d);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.req.context;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
