// An in-process Transport for tests: every member of a LocalNetwork delivers
// to the others through the event loop (never synchronously, as a real
// network would not), and links can be cut to simulate partitions.
import { newMessage } from '../core/raft-core.js';
import type { Message, NodeId } from '../core/types.js';
import { MessageType } from '../core/types.js';
import type { Transport, TransportHandler } from './transport.js';

/** The shared "wire" of a set of LocalTransports. */
export class LocalNetwork {
  private readonly members = new Map<NodeId, LocalTransport>();
  private readonly cut = new Set<string>();

  /** A transport for member `id` on this network. */
  transport(id: NodeId): LocalTransport {
    return new LocalTransport(id, this);
  }

  /** Drops every message between a and b (both directions) until heal(). */
  partition(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Cuts `id` off from every other member. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.partition(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** @internal */
  attach(t: LocalTransport): void {
    this.members.set(t.id, t);
  }

  /** @internal */
  detach(t: LocalTransport): void {
    if (this.members.get(t.id) === t) this.members.delete(t.id);
  }

  /** @internal True when delivered (the receiver is up and the link is not cut). */
  deliver(from: NodeId, to: NodeId, msgs: Message[]): boolean {
    const dst = this.members.get(to);
    if (!dst || this.cut.has(`${from}>${to}`)) return false;
    setImmediate(() => dst.receive(msgs));
    return true;
  }
}

export class LocalTransport implements Transport {
  private handler: TransportHandler | undefined;
  private readonly peers = new Set<NodeId>();

  constructor(readonly id: NodeId, private readonly net: LocalNetwork) {}

  async start(handler: TransportHandler): Promise<void> {
    this.handler = handler;
    this.net.attach(this);
  }

  send(msgs: Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of msgs) {
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byPeer) {
      const ok = this.peers.has(to) && this.net.deliver(this.id, to, list);
      const local: Message[] = [];
      if (!ok) local.push(newMessage({ type: MessageType.Unreachable, from: to }));
      for (const m of list) {
        if (m.type === MessageType.Snap) local.push(newMessage({ type: MessageType.SnapStatus, from: to, reject: !ok }));
      }
      if (local.length > 0) setImmediate(() => this.receive(local));
    }
  }

  addPeer(id: NodeId, _addr: string): void {
    this.peers.add(id);
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  async stop(): Promise<void> {
    this.net.detach(this);
    this.handler = undefined;
  }

  /** @internal */
  receive(msgs: Message[]): void {
    this.handler?.(msgs);
  }
}
