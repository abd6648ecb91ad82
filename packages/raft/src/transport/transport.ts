// How a RaftNode reaches its peers. The node hands the transport every
// message of a Ready (after persisting it) and receives what peers send it.
// Delivery is best effort: Raft retransmits, so a transport may drop, delay
// or reorder messages, but it must never alter one.
import type { Message, NodeId } from '../core/types.js';

/**
 * Receives messages from peers. Besides peer messages, a transport reports
 * two local conditions as messages, so the interface stays one callback:
 * `{ type: 'Unreachable', from: peer }` when a send to `peer` failed, and
 * `{ type: 'SnapStatus', from: peer, reject }` once a snapshot sent to `peer`
 * was delivered (`reject: false`) or failed (`reject: true`). The node turns
 * these into RaftCore.reportUnreachable / reportSnapshot.
 */
export type TransportHandler = (msgs: Message[]) => void;

export interface Transport {
  /** Starts listening and delivering to `handler`. Throws when the listen address cannot be bound. */
  start(handler: TransportHandler): Promise<void>;
  /** Queues messages for their `to` peers; never blocks and never throws for an unreachable peer. */
  send(msgs: Message[]): void;
  /** Adds or re-addresses a peer. */
  addPeer(id: NodeId, addr: string): void;
  /** Forgets a peer and closes its connection. */
  removePeer(id: NodeId): void;
  /** Closes every connection and the listener. */
  stop(): Promise<void>;
}

/** A peer: its member ID and the transport address it listens on (host:port for gRPC). */
export interface Peer {
  id: NodeId;
  addr: string;
  /** Opaque to Raft, replicated with the membership (e.g. the member's client API address). */
  meta?: string;
}
