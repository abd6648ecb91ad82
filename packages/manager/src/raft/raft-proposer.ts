// The store's Proposer backed by a RaftNode. It only proposes: the node's
// state machine (StoreStateMachine) applies each committed entry to the store
// before the matching propose resolves, so the store never applies anything
// on the proposer's word alone.
import { unavailable } from '@shoal/api';
import type { RaftNode } from '@shoal/raft';
import type { Proposer, ProposeResult } from '../store/proposer.js';
import { fromRaftError } from './errors.js';
import type { Reach } from './errors.js';

/**
 * Proposes store entries to a RaftNode and turns Raft's refusals into
 * ShoalErrors. Made before its node (the store needs a proposer before the
 * node needs the store's state machine); `attach` connects the two.
 */
export class RaftProposer implements Proposer {
  #node: RaftNode | undefined;
  #reach: () => Reach;

  constructor(reach: () => Reach = () => ({ reachable: 1, voters: 1 })) {
    this.#reach = reach;
  }

  /** Connects the started node; `reach` reports reachable managers for "no quorum" errors. */
  attach(node: RaftNode, reach?: () => Reach): void {
    this.#node = node;
    if (reach) this.#reach = reach;
  }

  /**
   * Proposes `data` and resolves with its index once it is committed and
   * applied on this member.
   * @throws NotLeaderError (code NotLeader) naming the leader when this
   *   member is not the leader or lost the leadership while waiting;
   *   ShoalError Unavailable "No quorum: N of M managers reachable" when no
   *   leader is known, or when the member is not attached yet or stopping;
   *   Internal after a fatal storage error; the signal's reason on abort.
   *   After leadership loss or an abort the entry may still commit.
   */
  async propose(data: Uint8Array, signal?: AbortSignal): Promise<ProposeResult> {
    const node = this.#node;
    if (!node) throw unavailable('This manager has not started its Raft member yet; retry shortly.');
    try {
      const r = await node.propose(data, signal);
      return { index: r.index };
    } catch (err) {
      throw fromRaftError(err, this.#reach);
    }
  }
}
