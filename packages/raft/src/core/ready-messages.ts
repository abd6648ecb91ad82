// Which of a Ready's messages a host may send before the Ready is durable
// (Raft thesis §10.2.1: the leader writes its log in parallel with
// replicating it). The core counts the leader's own entries toward the
// commit quorum only once advance() reports them persisted, so an append
// sent early promises nothing about the leader's disk; the entries' term is
// safe as long as the Ready does not change term or vote (the leader won its
// term with a vote that is already durable). Everything else waits: append
// and vote responses promise the sender's own durable state.

import type { HardState, Message, Ready } from './types.js';
import { MessageType } from './types.js';

export interface ReadyMessages {
  /** Send these at once, before persisting the Ready. */
  beforePersist: Message[];
  /** Send these only after the Ready's fsync. */
  afterPersist: Message[];
}

/**
 * Splits `rd.messages`. `persisted` is the hard state already durable (the
 * one the previous Ready wrote); when `rd` changes its term or vote, or
 * carries a snapshot, every message waits for the fsync.
 */
export function splitReadyMessages(rd: Ready, persisted: Pick<HardState, 'term' | 'vote'>): ReadyMessages {
  const hs = rd.hardState;
  const durableTerm = !hs || (hs.term === persisted.term && hs.vote === persisted.vote);
  if (!durableTerm || rd.snapshot || rd.messages.length === 0) return { beforePersist: [], afterPersist: rd.messages };
  const beforePersist: Message[] = [];
  const afterPersist: Message[] = [];
  for (const m of rd.messages) {
    if (m.type === MessageType.App || m.type === MessageType.Heartbeat) beforePersist.push(m);
    else afterPersist.push(m);
  }
  return { beforePersist, afterPersist };
}
