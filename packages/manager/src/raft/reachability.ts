// Which peers this member has heard from lately. RaftNode keeps no such
// record on followers (only a leader tracks its followers' progress), yet a
// refused change should say how many managers are reachable. Wrapping the
// transport sees every message without touching the Raft node.
import { MessageType } from '@shoal/raft';
import type { Message, NodeId, Transport, TransportHandler } from '@shoal/raft';

/** Clock in milliseconds; only differences matter. */
export type Clock = () => number;

export interface ReachabilityTransportOptions {
  /** A peer counts as reachable for this long after its last message. */
  windowMs: number;
  clock?: Clock;
}

// The transport's local reports about a peer, not messages from it.
const LOCAL_REPORTS = new Set<string>([MessageType.Unreachable, MessageType.SnapStatus]);

/** A Transport that passes everything through and records contact with each peer. */
export class ReachabilityTransport implements Transport {
  readonly #inner: Transport;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #heard = new Map<NodeId, number>();

  constructor(inner: Transport, options: ReachabilityTransportOptions) {
    this.#inner = inner;
    this.#windowMs = options.windowMs;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** True when `id` sent a message within the window and no send to it failed since. */
  reachable(id: NodeId): boolean {
    const at = this.#heard.get(id);
    return at !== undefined && this.#clock() - at <= this.#windowMs;
  }

  start(handler: TransportHandler): Promise<void> {
    return this.#inner.start((msgs: Message[]) => {
      const now = this.#clock();
      for (const m of msgs) {
        if (m.type === MessageType.Unreachable) this.#heard.delete(m.from);
        else if (!LOCAL_REPORTS.has(m.type)) this.#heard.set(m.from, now);
      }
      handler(msgs);
    });
  }

  send(msgs: Message[]): void {
    this.#inner.send(msgs);
  }

  addPeer(id: NodeId, addr: string): void {
    this.#inner.addPeer(id, addr);
  }

  removePeer(id: NodeId): void {
    this.#heard.delete(id);
    this.#inner.removePeer(id);
  }

  stop(): Promise<void> {
    this.#heard.clear();
    return this.#inner.stop();
  }
}
