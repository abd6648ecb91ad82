// The replicated orchestrator: keeps one live task in each slot 1..N of every
// replicated service. Scaling up fills the lowest free slots; scaling down
// removes the surplus, preferring tasks on the nodes that run the most
// copies (then tasks not yet running, then the highest slots); a spec change
// replaces each dirty task in its slot; a removed service's tasks get desired
// state REMOVE. Tasks that stop, or whose node goes down, drains or is
// removed, go to the restart supervisor.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Cluster__Output, Logger, Service__Output, Task__Output } from '@shoal/api';
import { all, byNode, bySlot, byService } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent, WriteTx } from '../store/index.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { runLoop } from '../store/run-loop.js';
import { RestartSupervisor } from './restart-supervisor.js';
import { hasStopped, invalidNode, isTaskDirty, newTask, observed, serviceMode, stateRank } from './task.js';

export interface OrchestratorDeps {
  /** Shared with the other orchestrators; made privately when absent. */
  restarts?: RestartSupervisor;
  clock?: Clock;
  logger?: Logger;
}

const isReplicated = (s: Service__Output | null | undefined): s is Service__Output => serviceMode(s) === 'replicated';
/** Live in the sense of a long-running service: desired at most RUNNING. */
const runnable = (t: Task__Output): boolean => stateRank(t.desired_state) <= stateRank('RUNNING');

export class ReplicatedOrchestrator {
  readonly #store: MemoryStore;
  readonly #restarts: RestartSupervisor;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #cluster: Cluster__Output | null = null;
  readonly #dirtyServices = new Set<string>();
  readonly #removedServices = new Set<string>();
  readonly #restartTasks = new Set<string>();
  readonly #restartNodes = new Set<string>();

  constructor(store: MemoryStore, deps: OrchestratorDeps = {}) {
    this.#store = store;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'orchestrator.replicated' });
    this.#restarts = deps.restarts ?? new RestartSupervisor(store, { clock: this.#clock, logger: deps.logger });
  }

  /** Reconciles until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await runLoop(
      this.#store,
      signal,
      { tables: ['services', 'tasks', 'nodes', 'clusters'] },
      { init: (tx) => this.#init(tx), onEvent: (e) => this.#onEvent(e), tick: () => this.#tick() },
      this.#logger,
    );
  }

  #init(tx: ReadTx): void {
    this.#cluster = tx.clusters.find(all)[0] ?? null;
    const replicated = new Set<string>();
    for (const s of tx.services.find(all)) {
      if (!isReplicated(s)) continue;
      replicated.add(s.id);
      this.#dirtyServices.add(s.id);
    }
    // Tasks a previous leader left stopped, or on nodes that went away.
    for (const t of tx.tasks.find(all)) {
      if (!replicated.has(t.service_id) || !runnable(t)) continue;
      if (hasStopped(t) || (t.node_id !== '' && invalidNode(tx.nodes.get(t.node_id)))) this.#restartTasks.add(t.id);
    }
  }

  #onEvent(e: StoreChangeEvent): void {
    switch (e.table) {
      case 'clusters':
        if (e.kind !== 'delete') this.#cluster = e.object;
        return;
      case 'services':
        if (!isReplicated(e.object)) return;
        if (e.kind === 'delete') {
          this.#removedServices.add(e.object.id);
          this.#dirtyServices.delete(e.object.id);
          this.#restarts.clearServiceHistory(e.object.id);
        } else {
          this.#dirtyServices.add(e.object.id);
        }
        return;
      case 'nodes':
        if (e.kind === 'delete' || invalidNode(e.object)) this.#restartNodes.add(e.object.id);
        return;
      case 'tasks': {
        const t = e.object;
        if (e.kind === 'delete') {
          this.#restarts.cancel(t.id);
          // A live task vanished: its slot may need a new one.
          if (runnable(t) && t.service_id !== '') this.#dirtyServices.add(t.service_id);
          return;
        }
        if (!runnable(t) || t.service_id === '') return;
        if (hasStopped(t)) this.#restartTasks.add(t.id);
        else if (t.node_id !== '' && e.kind === 'update' && e.old?.node_id !== t.node_id) {
          // Newly assigned: to a node that may already be gone.
          this.#restartTasks.add(t.id);
        }
        return;
      }
      default:
        return;
    }
  }

  async #tick(): Promise<void> {
    await this.#tickTasks();
    await this.#tickRemoved();
    await this.#tickServices();
  }

  /** Restarts stopped tasks and moves tasks off nodes that went away. */
  async #tickTasks(): Promise<void> {
    if (this.#restartNodes.size > 0) {
      const nodes = [...this.#restartNodes];
      this.#restartNodes.clear();
      this.#store.view((tx) => {
        for (const id of nodes) for (const t of tx.tasks.find(byNode(id))) if (runnable(t)) this.#restartTasks.add(t.id);
      });
    }
    if (this.#restartTasks.size === 0) return;
    const ids = [...this.#restartTasks];
    this.#restartTasks.clear();
    const cluster = this.#cluster;
    const result = await this.#store.batch((b) => {
      for (const id of ids) b.update((tx) => this.#maybeRestart(tx, cluster, id));
    });
    this.#logFailures('restarting tasks', result.failed);
  }

  #maybeRestart(tx: WriteTx, cluster: Cluster__Output | null, taskId: string): void {
    const t = tx.tasks.get(taskId);
    if (!t || !runnable(t)) return;
    const service = tx.services.get(t.service_id);
    if (!isReplicated(service)) return;
    const nodeInvalid = t.node_id !== '' && invalidNode(tx.nodes.get(t.node_id));
    if (nodeInvalid) this.#restarts.restart(tx, cluster, service, t, 'node');
    else if (hasStopped(t)) this.#restarts.restart(tx, cluster, service, t, 'failure');
  }

  /** Removed services: every task of theirs is to be removed. */
  async #tickRemoved(): Promise<void> {
    if (this.#removedServices.size === 0) return;
    const ids = [...this.#removedServices];
    this.#removedServices.clear();
    await removeServiceTasks(this.#store, ids, this.#logger);
  }

  async #tickServices(): Promise<void> {
    if (this.#dirtyServices.size === 0) return;
    const ids = [...this.#dirtyServices];
    this.#dirtyServices.clear();
    for (const id of ids) {
      try {
        await this.#reconcile(id);
      } catch (err) {
        this.#dirtyServices.add(id);
        throw err;
      }
    }
  }

  async #reconcile(serviceId: string): Promise<void> {
    const snapshot = this.#store.view((tx) => {
      const service = tx.services.get(serviceId);
      return isReplicated(service) ? { service, tasks: tx.tasks.find(byService(serviceId)) } : undefined;
    });
    if (!snapshot) return;
    const { service } = snapshot;
    const want = Number(service.spec?.replicated?.replicas ?? 0);
    const slots = new Map<number, Task__Output[]>();
    for (const t of snapshot.tasks) {
      if (!runnable(t)) continue;
      const slot = Number(t.slot);
      const list = slots.get(slot);
      if (list) list.push(t);
      else slots.set(slot, [t]);
    }

    let keep = [...slots.entries()];
    let remove: Array<[number, Task__Output[]]> = [];
    if (keep.length > want) {
      const ordered = scaleDownOrder(keep);
      keep = ordered.slice(0, want);
      remove = ordered.slice(want);
    }
    const toAdd: number[] = [];
    for (let slot = 1; keep.length + toAdd.length < want; slot++) if (!slots.has(slot)) toAdd.push(slot);
    const cluster = this.#cluster;
    const now = this.#clock.now();

    const result = await this.#store.batch((b) => {
      for (const slot of toAdd) {
        b.update((tx) => {
          const current = tx.services.get(serviceId);
          if (!isReplicated(current)) return;
          // Re-check on write: someone may have filled the slot meanwhile.
          if (tx.tasks.find(bySlot(serviceId, slot)).some(runnable)) return;
          tx.tasks.create(newTask(current, slot, cluster, { now }));
        });
      }
      for (const [, tasks] of remove) {
        for (const t of tasks) b.update((tx) => setDesired(tx, t.id, 'REMOVE'));
      }
      for (const [slot, tasks] of keep) {
        const dirty = tasks.filter((t) => isTaskDirty(service, t));
        const clean = tasks.filter((t) => !isTaskDirty(service, t));
        // Extra clean copies in one slot (left by an update) go too.
        const extra = clean.slice(1);
        if (dirty.length === 0 && extra.length === 0) continue;
        b.update((tx) => this.#updateSlot(tx, cluster, serviceId, slot, clean.length === 0, [...dirty, ...extra]));
      }
    });
    this.#logFailures('reconciling a service', result.failed, serviceId);
  }

  /**
   * Replaces a slot's outdated tasks: shuts them down and (when no clean task
   * is left) creates one with the current spec that starts once the old one
   * has stopped — stop-first, all slots at once. The rolling update with
   * parallelism, delay and failure action is a later issue.
   */
  #updateSlot(tx: WriteTx, cluster: Cluster__Output | null, serviceId: string, slot: number, addNew: boolean, old: Task__Output[]): void {
    const service = tx.services.get(serviceId);
    if (!isReplicated(service)) return;
    const current = old.map((t) => tx.tasks.get(t.id)).filter((t): t is Task__Output => !!t && runnable(t));
    if (current.length === 0) return;
    for (const t of current) tx.tasks.update({ ...t, desired_state: 'SHUTDOWN' });
    if (!addNew) return;
    const replacement = newTask(service, slot, cluster, { now: this.#clock.now() });
    const first = current.find((t) => !hasStopped(t) && !invalidNode(t.node_id ? tx.nodes.get(t.node_id) : undefined));
    if (first && first.node_id !== '') replacement.desired_state = 'READY';
    tx.tasks.create(replacement);
    if (replacement.desired_state === 'READY') this.#restarts.delayStart(first, replacement.id as string, 0, true);
  }

  #logFailures(what: string, failed: Array<{ error: unknown }>, serviceId?: string): void {
    for (const f of failed) {
      this.#logger.warn(`${what} failed`, { ...(serviceId ? { 'service.id': serviceId } : {}), err: errorMessage(f.error) });
    }
  }
}

/**
 * The order slots are given up in when scaling down, last first: tasks on
 * nodes holding more copies of the service, then tasks not yet scheduled or
 * running, then higher slots.
 */
export function scaleDownOrder(slots: Array<[number, Task__Output[]]>): Array<[number, Task__Output[]]> {
  const running = (s: Task__Output[]): boolean => s.some((t) => observed(t) === 'RUNNING');
  const byRunning = [...slots].sort((a, b) => Number(running(b[1])) - Number(running(a[1])) || a[0] - b[0]);
  const perNode = new Map<string, number>();
  const indexed = byRunning.map(([slot, tasks]) => {
    const node = tasks.length === 1 ? (tasks[0]?.node_id ?? '') : '';
    if (node === '') return { slot, tasks, index: Number.POSITIVE_INFINITY };
    const n = (perNode.get(node) ?? 0) + 1;
    perNode.set(node, n);
    return { slot, tasks, index: n };
  });
  // Stable: equal indexes keep the running-first, lower-slot-first order.
  indexed.sort((a, b) => (a.index === b.index ? 0 : a.index < b.index ? -1 : 1));
  return indexed.map((s) => [s.slot, s.tasks]);
}

/** Sets a task's desired state, forward only. */
export function setDesired(tx: WriteTx, taskId: string, state: 'SHUTDOWN' | 'REMOVE'): void {
  const t = tx.tasks.get(taskId);
  if (!t || stateRank(t.desired_state) >= stateRank(state)) return;
  tx.tasks.update({ ...t, desired_state: state });
}

/** Gives every task of the removed services desired state REMOVE (the reaper deletes them once stopped). */
export async function removeServiceTasks(store: MemoryStore, serviceIds: string[], logger: Logger): Promise<void> {
  const taskIds = store.view((tx) =>
    serviceIds.flatMap((id) => tx.tasks.find(byService(id)).filter((t) => t.desired_state !== 'REMOVE').map((t) => t.id)),
  );
  if (taskIds.length === 0) return;
  const result = await store.batch((b) => {
    for (const id of taskIds) b.update((tx) => setDesired(tx, id, 'REMOVE'));
  });
  for (const f of result.failed) logger.warn('marking a removed service task for removal failed', { err: errorMessage(f.error) });
}

