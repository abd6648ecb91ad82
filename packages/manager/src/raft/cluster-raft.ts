// A manager's replicated store: a MemoryStore whose changes go through a
// RaftNode, plus the leadership signal that leader-only components (the
// orchestrators, the scheduler, the dispatcher) start and stop with.
import { StateType } from '@shoal/raft';
import { RaftNode } from '@shoal/raft';
import type { NodeId, Peer, RaftNodeLogger, RaftNodeOptions, RaftNodeStatus, Transport } from '@shoal/raft';
import { MemoryStore } from '../store/memory-store.js';
import type { MemoryStoreOptions } from '../store/memory-store.js';
import { fromRaftError } from './errors.js';
import type { Reach } from './errors.js';
import { RaftProposer } from './raft-proposer.js';
import { ReachabilityTransport } from './reachability.js';
import { StoreStateMachine } from './store-state-machine.js';

export interface ClusterRaftOptions extends Omit<RaftNodeOptions, 'stateMachine'> {
  /** The transport to peers; wrapped to learn which peers are reachable. */
  transport: Transport;
  /** Options of the replicated store. */
  store?: MemoryStoreOptions;
}

/** Called with true when this member starts leading, false when it stops. */
export type LeadershipListener = (leading: boolean) => void;

const silentLogger: RaftNodeLogger = { info() {}, warn() {}, error() {} };

/**
 * The cluster store replicated by Raft on one manager. Changes are made with
 * `store.update(...)` on the leader; every member's store follows the log.
 *
 * Leadership is announced only once the new leader has applied every entry
 * committed before its term (its log up to the point it became leader), so
 * a component started by `onLeadershipChange(true)` reads the whole state.
 */
export class ClusterRaft {
  /** The replicated store; read it anywhere, change it on the leader. */
  readonly store: MemoryStore;
  /** The Raft member (membership changes, status, leadership transfer). */
  readonly node: RaftNode;
  readonly #transport: ReachabilityTransport;
  readonly #log: RaftNodeLogger;
  readonly #listeners = new Set<LeadershipListener>();
  readonly #poll: NodeJS.Timeout;
  #leading = false;
  /** The term this member was seen leading in, 0 when not leading. */
  #term = 0;
  /** The log index the leader must have applied before it announces itself. */
  #target = 0;
  /** No more leadership: stop() was called or the node stopped by itself. */
  #stopped = false;
  #stopCalled = false;

  private constructor(node: RaftNode, store: MemoryStore, transport: ReachabilityTransport, log: RaftNodeLogger, tickMs: number) {
    this.node = node;
    this.store = store;
    this.#transport = transport;
    this.#log = log;
    this.#poll = setInterval(() => this.#check(), tickMs);
    // A fatal storage error stops the node without changing its Raft state:
    // leader-only components must stop with it.
    void node.done.then((err) => {
      if (err) this.#log.error({ 'node.id': node.id, err: err.message }, 'the Raft member stopped on a fatal error');
      this.#stopped = true;
      clearInterval(this.#poll);
      this.#set(false);
    });
  }

  /** Resolves when the Raft member stops: undefined after stop(), the error after a fatal one (disk). */
  get done(): Promise<Error | undefined> {
    return this.node.done;
  }

  /**
   * Opens the member's Raft storage, rebuilds the store from the newest
   * snapshot and the log after it, and joins the cluster.
   * @throws ShoalError InvalidArgument for bad options or a data directory
   *   of another member; DataLoss when the stored log or a snapshot is
   *   damaged; the transport's and the file system's errors.
   */
  static async start(options: ClusterRaftOptions): Promise<ClusterRaft> {
    const { store: storeOptions, transport, ...raftOptions } = options;
    const tickMs = options.tickMs ?? 100;
    const electionTick = options.electionTick ?? 10;
    // A follower hears from the other voters only during elections, which
    // come at most two election timeouts apart while no leader is known.
    const wrapped = new ReachabilityTransport(transport, { windowMs: 2 * electionTick * tickMs });
    const proposer = new RaftProposer();
    const store = new MemoryStore(proposer, storeOptions);
    let node: RaftNode;
    try {
      node = await RaftNode.start({ ...raftOptions, transport: wrapped, stateMachine: new StoreStateMachine(store) });
    } catch (err) {
      store.close();
      throw fromRaftError(err, () => ({ reachable: 0, voters: 0 }));
    }
    const cr = new ClusterRaft(node, store, wrapped, options.logger ?? silentLogger, tickMs);
    proposer.attach(node, () => cr.reach());
    return cr;
  }

  /** This member's ID. */
  get id(): NodeId {
    return this.node.id;
  }

  /**
   * True when this member leads and has announced it (see the class comment):
   * changes made here now will commit if a quorum is reachable.
   */
  isLeader(): boolean {
    return this.#leading && !this.#stopped && this.node.isLeader();
  }

  /** The current leader's ID and Raft address, when one is known. */
  leader(): Peer | undefined {
    return this.node.status().leader;
  }

  /** Raft status (term, commit and applied indexes, members, replication progress). */
  status(): RaftNodeStatus {
    return this.node.status();
  }

  /** Whether this member heard from `id` within two election timeouts (always true for itself). */
  isReachable(id: NodeId): boolean {
    return id === this.node.id || this.#transport.reachable(id);
  }

  /** How many voting managers this member has heard from within two election timeouts, itself included. */
  reach(): Reach {
    const voters = this.node.status().config.voters;
    const reachable = voters.filter((id) => id === this.node.id || this.#transport.reachable(id)).length;
    return { reachable, voters: voters.length };
  }

  /**
   * Calls `cb(true)` when this member starts leading and `cb(false)` when it
   * stops (at the latest one tick after Raft stepped down, and on stop()).
   * A listener added while leading is called with true at once. Returns the
   * unsubscribe function. Listener errors are logged and ignored.
   */
  onLeadershipChange(cb: LeadershipListener): () => void {
    this.#listeners.add(cb);
    if (this.#leading) this.#notify(cb, true);
    return () => this.#listeners.delete(cb);
  }

  /**
   * Waits until this member's store holds every change committed before the
   * call (a Raft ReadIndex round), so a following `store.view` is
   * linearizable on any member.
   * @throws NotLeaderError or ShoalError Unavailable when no leader can
   *   confirm the read in time; the signal's reason on abort.
   */
  async barrier(signal?: AbortSignal): Promise<void> {
    await this.#raft(() => this.node.readIndex(signal));
  }

  /**
   * Adds a manager: first as a non-voting learner that receives the log (or a
   * snapshot of the store), then, once caught up, as a voter. Call it on the
   * leader after the new member started with `join: true`.
   * @throws NotLeaderError on a follower; ShoalError FailedPrecondition when
   *   `id` is already a member, Unavailable when another membership change is
   *   in flight or no quorum is reachable (retry); the signal's reason.
   */
  async addManager(id: NodeId, addr: string, signal?: AbortSignal): Promise<void> {
    await this.#raft(async () => {
      if (!this.node.status().config.learners.includes(id)) await this.node.addLearner(id, addr, signal);
      await this.node.promote(id, signal);
    });
  }

  /**
   * Removes a manager (voter or learner) from the cluster.
   * @throws NotLeaderError on a follower; ShoalError FailedPrecondition for an
   *   unknown member, Unavailable as addManager; the signal's reason.
   */
  async removeManager(id: NodeId, signal?: AbortSignal): Promise<void> {
    await this.#raft(() => this.node.removeMember(id, signal));
  }

  /**
   * Hands the leadership to voter `to` and resolves once it leads.
   * @throws ShoalError FailedPrecondition when `to` is not a voter,
   *   Unavailable when the transfer did not finish in two election timeouts,
   *   NotLeaderError / Unavailable when no leader is known; the signal's reason.
   */
  async transferLeadership(to: NodeId, signal?: AbortSignal): Promise<void> {
    await this.#raft(() => this.node.transferLeadership(to, signal));
  }

  /**
   * Announces the end of leadership, stops the Raft member (waiting changes
   * fail with Unavailable) and closes the store's watchers.
   * @throws file-system errors from closing the log.
   */
  async stop(): Promise<void> {
    if (this.#stopCalled) return;
    this.#stopCalled = true;
    this.#stopped = true;
    clearInterval(this.#poll);
    this.#set(false);
    try {
      await this.node.stop();
    } finally {
      this.store.close();
    }
  }

  async #raft<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fromRaftError(err, () => this.reach());
    }
  }

  #check(): void {
    if (this.#stopped) return;
    const st = this.node.status();
    const leaderNow = st.state === StateType.Leader;
    if (!leaderNow || st.term !== this.#term) {
      // Lost, or lost and won again between two looks: a new term starts over.
      this.#set(false);
      this.#term = leaderNow ? st.term : 0;
      // The leader's own first entry is at or below its last index now.
      this.#target = leaderNow ? st.lastIndex : 0;
    }
    if (leaderNow && !this.#leading && st.applied >= this.#target) this.#set(true);
  }

  #set(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.#log.info({ 'node.id': this.node.id, leading, term: this.#term }, leading ? 'this manager is the leader' : 'this manager stopped leading');
    for (const cb of [...this.#listeners]) this.#notify(cb, leading);
  }

  #notify(cb: LeadershipListener, leading: boolean): void {
    try {
      cb(leading);
    } catch (err) {
      this.#log.error({ 'node.id': this.node.id, err: (err as Error).message }, 'a leadership listener failed');
    }
  }
}
