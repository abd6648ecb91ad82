// The Raft state machine of a manager: the cluster store. Every member,
// leader included, applies every committed store entry here, in log order and
// synchronously from the Raft apply step, so the store on each member is the
// same function of the same log.
import type { StateMachine } from '@shoal/raft';
import type { MemoryStore } from '../store/memory-store.js';

/** Applies committed entries to a MemoryStore and snapshots/restores it whole. */
export class StoreStateMachine implements StateMachine {
  readonly #store: MemoryStore;

  constructor(store: MemoryStore) {
    this.#store = store;
  }

  /**
   * Applies a committed store entry.
   * @throws ShoalError DataLoss when the entry is not a store entry; RaftNode
   *   then stops the member rather than let its store diverge.
   */
  apply(data: Uint8Array, index: number): unknown {
    this.#store.applyCommitted(index, data);
    return undefined;
  }

  snapshot(): Uint8Array {
    return this.#store.save();
  }

  /**
   * Replaces the store with a snapshot's contents (start-up, or a snapshot
   * installed from the leader); watchers get the difference as events.
   * @throws ShoalError DataLoss when the bytes are not a store snapshot.
   */
  restore(data: Uint8Array): void {
    this.#store.restore(data);
  }
}
