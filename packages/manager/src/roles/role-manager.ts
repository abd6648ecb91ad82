// The role manager (leader only): reconciles each node's role with the role
// its spec asks for (`node promote` / `node demote` write spec.desired_role).
// A promotion only records role MANAGER: the node notices, renews its
// certificate with the new role and joins Raft itself. A demotion first
// removes the node from Raft (when that keeps a quorum), then records role
// WORKER; the node notices, stops its manager and renews its certificate.
// Changes that cannot be made now are retried on a timer. Modelled on
// swarmkit's manager/role_manager.go.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Logger, Node__Output } from '@shoal/api';
import { all } from '../store/index.js';
import type { MemoryStore } from '../store/index.js';

/** What the role manager needs of this manager's Raft member. */
export interface RoleRaft {
  /** This manager's node ID. */
  readonly selfId: string;
  /** Whether `nodeId` is a Raft member (voter or learner). */
  isMember(nodeId: string): boolean;
  /** Whether removing `nodeId` leaves a reachable quorum of the remaining voters. */
  canRemove(nodeId: string): boolean;
  /** Removes a member. Throws when Raft refuses (no quorum, another change in flight, not the leader). */
  removeManager(nodeId: string, signal: AbortSignal): Promise<void>;
  /** Hands the leadership to another reachable voter (used before this leader is demoted). Throws when none takes it. */
  transferLeadership(signal: AbortSignal): Promise<void>;
}

export interface RoleManagerOptions {
  raft: RoleRaft;
  logger?: Logger;
  /** How often changes that could not be made are retried (default 5 s, as swarmkit). */
  retryMs?: number;
  /** How long a Raft removal may take before it is retried (default 5 s). */
  removalTimeoutMs?: number;
}

const pendingChange = (n: Node__Output): boolean => (n.spec?.desired_role ?? n.role) !== n.role;

export class RoleManager {
  readonly #store: MemoryStore;
  readonly #raft: RoleRaft;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #removalTimeoutMs: number;
  /** Nodes whose role differs from their desired role. */
  readonly #pending = new Set<string>();
  #wake: (() => void) | undefined;
  /** A node changed while the loop was busy: go again without waiting. */
  #dirty = false;

  constructor(store: MemoryStore, o: RoleManagerOptions) {
    this.#store = store;
    this.#raft = o.raft;
    this.#log = (o.logger ?? nopLogger).child({ component: 'rolemanager' });
    this.#retryMs = o.retryMs ?? 5_000;
    this.#removalTimeoutMs = o.removalTimeoutMs ?? 5_000;
  }

  /** Node IDs still waiting for their role change (for tests). */
  pending(): string[] {
    return [...this.#pending];
  }

  /** Reconciles until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { watcher } = this.#store.viewAndWatch(
      (tx) => {
        for (const n of tx.nodes.find(all)) if (pendingChange(n)) this.#pending.add(n.id);
      },
      { tables: ['nodes'] },
      { signal },
    );
    // Events only mark nodes; one loop does the work, on a change or when the retry timer fires.
    void (async () => {
      try {
        for await (const e of watcher) {
          if (e.kind === 'commit' || e.table !== 'nodes') continue;
          if (e.kind === 'delete') this.#pending.delete(e.object.id);
          else if (pendingChange(e.object)) this.#pending.add(e.object.id);
          else continue;
          this.#dirty = true;
          this.#wake?.();
        }
      } catch (err) {
        if (!signal.aborted) this.#log.warn('node watch ended; role changes are retried on the timer only', { error: errorMessage(err) });
      }
    })();
    try {
      while (!signal.aborted) {
        this.#dirty = false;
        if (this.#pending.size > 0) await this.#reconcileAll(signal);
        if (this.#dirty) continue;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            this.#wake = undefined;
            resolve();
          };
          // With nothing pending, only a change (or the abort) wakes the loop.
          const timer = this.#pending.size > 0 ? setTimeout(done, this.#retryMs) : undefined;
          this.#wake = done;
          if (signal.aborted) done();
          else signal.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      watcher.close();
    }
  }

  async #reconcileAll(signal: AbortSignal): Promise<void> {
    for (const id of [...this.#pending]) {
      if (signal.aborted) return;
      try {
        if (await this.#reconcile(id, signal)) this.#pending.delete(id);
      } catch (err) {
        if (signal.aborted) return;
        this.#log.warn('role change failed; retrying', { 'node.id': id, error: errorMessage(err), 'retry.ms': this.#retryMs });
      }
    }
  }

  /** Makes one node's role its desired role. Returns true when done (or nothing is left to do). */
  async #reconcile(id: string, signal: AbortSignal): Promise<boolean> {
    const node = this.#store.view((tx) => tx.nodes.get(id));
    if (!node || !pendingChange(node)) return true;
    const desired = node.spec?.desired_role;
    if (desired === 'MANAGER' && node.role === 'WORKER') {
      // The node joins Raft itself once it sees the role (and renews its certificate).
      const done = await this.#setRole(node, 'MANAGER');
      if (done) this.#log.info('node promoted: it joins the managers', { 'node.id': id });
      return done;
    }
    if (desired === 'WORKER' && node.role === 'MANAGER') {
      if (this.#raft.isMember(id)) {
        if (id === this.#raft.selfId) {
          // A leader does not remove itself: it hands over, and the next leader demotes it.
          this.#log.info('demoting this leader: handing the leadership over first', { 'node.id': id });
          await this.#raft.transferLeadership(signal);
          return false;
        }
        if (!this.#raft.canRemove(id)) {
          this.#log.info("can't demote the node now: removing it from Raft would lose the quorum; retrying", { 'node.id': id });
          return false;
        }
        await this.#raft.removeManager(id, AbortSignal.any([signal, AbortSignal.timeout(this.#removalTimeoutMs)]));
      }
      const done = await this.#setRole(node, 'WORKER');
      if (done) this.#log.info('node demoted: removed from the managers', { 'node.id': id });
      return done;
    }
    return true;
  }

  /** Records the role when the node still asks for it. Returns false when the node changed meanwhile (handled on its next event). */
  async #setRole(seen: Node__Output, role: 'MANAGER' | 'WORKER'): Promise<boolean> {
    return this.#store.update((tx) => {
      const n = tx.nodes.get(seen.id);
      if (!n) return true;
      if (n.spec?.desired_role !== seen.spec?.desired_role || n.role !== seen.role) return !pendingChange(n);
      tx.nodes.update({ ...n, role, ...(role === 'WORKER' ? { manager_status: null } : {}) });
      return true;
    });
  }
}
