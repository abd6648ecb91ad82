// Which of a Ready's messages a host may send before the Ready is durable
// (Raft thesis §10.2.1: the leader writes its log in parallel with
// replicating it). The core counts the leader's own entries toward the
// commit quorum only once advance() reports them persisted, so an append
// sent early promises nothing about the leader's disk; the entries' term is
// safe as long as the Ready does not change term or vote (the leader won its
// term with a vote that is already durable). Everything else waits: append
// and vote responses promise the sender's own durable state.
//
// With pipelined Readies (RaftCoreOptions.asyncStorageWrites) a Ready that
// does not change term or vote may still follow one in flight that does, so
// the check is against the newest term and vote handed out, not the Ready's.

import type { HardState, Message, Ready } from './types.js';
import { MessageType } from './types.js';

export interface ReadyMessages {
  /** Send these at once, before persisting the Ready. */
  beforePersist: Message[];
  /** Send these only after the Ready's fsync. */
  afterPersist: Message[];
}

/**
 * Splits `rd.messages`. `persisted` is the hard state already durable;
 * `newest` the term and vote of the newest Ready taken (default: `rd`'s hard
 * state, else `persisted`, right when no other Ready is in flight). When
 * those differ, or `rd` carries a snapshot, every message waits for the fsync.
 */
export function splitReadyMessages(
  rd: Ready,
  persisted: Pick<HardState, 'term' | 'vote'>,
  newest: Pick<HardState, 'term' | 'vote'> = rd.hardState ?? persisted,
): ReadyMessages {
  const durableTerm = newest.term === persisted.term && newest.vote === persisted.vote;
  if (!durableTerm || rd.snapshot || rd.messages.length === 0) return { beforePersist: [], afterPersist: rd.messages };
  const beforePersist: Message[] = [];
  const afterPersist: Message[] = [];
  for (const m of rd.messages) {
    if (m.type === MessageType.App || m.type === MessageType.Heartbeat) beforePersist.push(m);
    else afterPersist.push(m);
  }
  return { beforePersist, afterPersist };
}
