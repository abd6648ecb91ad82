// The global orchestrator: one task of every global service on each eligible
// node — active, READY, satisfying the service's constraints — including
// nodes that join later. Tasks leave nodes that drain, go down, are removed
// or stop satisfying the constraints; a paused node keeps what it runs and
// gets nothing new. A spec change replaces each node's dirty task.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Cluster__Output, Logger, Node__Output, Service__Output, Task__Output } from '@shoal/api';
import { nodeMatches, parseConstraints } from '../constraint/index.js';
import type { Constraint } from '../constraint/index.js';
import { all, byNode, byService } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent, WriteTx } from '../store/index.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { runLoop } from '../store/run-loop.js';
import type { OrchestratorDeps } from './replicated.js';
import { removeServiceTasks } from './replicated.js';
import { RestartSupervisor } from './restart-supervisor.js';
import { hasStopped, invalidNode, isTaskDirty, newTask, nodeChangeMatters, serviceMode, stateRank } from './task.js';

const isGlobal = (s: Service__Output | null | undefined): s is Service__Output => serviceMode(s) === 'global';
const runnable = (t: Task__Output): boolean => stateRank(t.desired_state) <= stateRank('RUNNING');

/**
 * The service's placement constraints, parsed.
 * @throws ShoalError InvalidArgument for an expression controlapi should have refused.
 */
export function serviceConstraints(s: Service__Output): Constraint[] {
  return parseConstraints(s.spec?.task?.placement?.constraints ?? []);
}

/** What a global service does on a node. */
export type NodeFit = 'run' | 'keep' | 'leave';

/**
 * 'run': the node should run one task; 'keep': leave its tasks as they are
 * but add none (paused, or not READY yet and not DOWN); 'leave': its tasks
 * must go (drained, down, gone, or failing the constraints).
 */
export function nodeFit(node: Node__Output | undefined, constraints: readonly Constraint[]): NodeFit {
  if (!node || invalidNode(node) || !nodeMatches(constraints, node)) return 'leave';
  if (node.spec?.availability === 'PAUSE' || node.status?.state !== 'READY') return 'keep';
  return 'run';
}

export class GlobalOrchestrator {
  readonly #store: MemoryStore;
  readonly #restarts: RestartSupervisor;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #cluster: Cluster__Output | null = null;
  readonly #globalServices = new Set<string>();
  readonly #dirtyServices = new Set<string>();
  readonly #removedServices = new Set<string>();
  readonly #restartTasks = new Set<string>();
  #nodesChanged = false;

  constructor(store: MemoryStore, deps: OrchestratorDeps = {}) {
    this.#store = store;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'orchestrator.global' });
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
    this.#globalServices.clear();
    for (const s of tx.services.find(all)) {
      if (!isGlobal(s)) continue;
      this.#globalServices.add(s.id);
      this.#dirtyServices.add(s.id);
      for (const t of tx.tasks.find(byService(s.id))) if (runnable(t) && hasStopped(t)) this.#restartTasks.add(t.id);
    }
  }

  #onEvent(e: StoreChangeEvent): void {
    switch (e.table) {
      case 'clusters':
        if (e.kind !== 'delete') this.#cluster = e.object;
        return;
      case 'services':
        if (!isGlobal(e.object)) return;
        if (e.kind === 'delete') {
          this.#globalServices.delete(e.object.id);
          this.#dirtyServices.delete(e.object.id);
          this.#removedServices.add(e.object.id);
          this.#restarts.clearServiceHistory(e.object.id);
        } else {
          this.#globalServices.add(e.object.id);
          this.#dirtyServices.add(e.object.id);
        }
        return;
      case 'nodes':
        if (nodeChangeMatters(e.kind, e.object, e.old)) this.#nodesChanged = true;
        return;
      case 'tasks': {
        const t = e.object;
        if (!this.#globalServices.has(t.service_id)) return;
        if (e.kind === 'delete') {
          this.#restarts.cancel(t.id);
          if (runnable(t)) this.#dirtyServices.add(t.service_id);
        } else if (runnable(t) && hasStopped(t)) {
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
    if (this.#removedServices.size > 0) {
      const ids = [...this.#removedServices];
      this.#removedServices.clear();
      await removeServiceTasks(this.#store, ids, this.#logger);
    }
    if (this.#nodesChanged) {
      this.#nodesChanged = false;
      for (const id of this.#globalServices) this.#dirtyServices.add(id);
    }
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

  async #tickTasks(): Promise<void> {
    if (this.#restartTasks.size === 0) return;
    const ids = [...this.#restartTasks];
    this.#restartTasks.clear();
    const cluster = this.#cluster;
    const result = await this.#store.batch((b) => {
      for (const id of ids) b.update((tx) => this.#restartOne(tx, cluster, id));
    });
    for (const f of result.failed) this.#logger.warn('restarting a task failed', { err: errorMessage(f.error) });
  }

  #restartOne(tx: WriteTx, cluster: Cluster__Output | null, taskId: string): void {
    const t = tx.tasks.get(taskId);
    if (!t || !runnable(t) || !hasStopped(t)) return;
    const service = tx.services.get(t.service_id);
    if (!isGlobal(service)) return;
    const fit = nodeFit(tx.nodes.get(t.node_id), serviceConstraints(service));
    if (fit === 'run') this.#restarts.restart(tx, cluster, service, t, 'failure');
    else this.#restarts.shutdown(tx, t);
  }

  async #reconcile(serviceId: string): Promise<void> {
    const snapshot = this.#store.view((tx) => {
      const service = tx.services.get(serviceId);
      if (!isGlobal(service)) return undefined;
      return { service, tasks: tx.tasks.find(byService(serviceId)), nodes: tx.nodes.find(all) };
    });
    if (!snapshot) return;
    const { service, nodes } = snapshot;
    let constraints: Constraint[] | undefined;
    try {
      constraints = serviceConstraints(service);
    } catch (err) {
      this.#logger.warn('a global service has invalid constraints; it runs nowhere', { 'service.id': serviceId, err: errorMessage(err) });
    }
    const byNodeId = new Map<string, Task__Output[]>();
    for (const t of snapshot.tasks) {
      if (!runnable(t)) continue;
      const list = byNodeId.get(t.node_id);
      if (list) list.push(t);
      else byNodeId.set(t.node_id, [t]);
    }
    const add: string[] = [];
    const shut: Task__Output[] = [];
    const update: Array<{ nodeId: string; old: Task__Output[]; addNew: boolean }> = [];
    for (const n of nodes) {
      const tasks = byNodeId.get(n.id) ?? [];
      byNodeId.delete(n.id);
      const fit = constraints ? nodeFit(n, constraints) : 'leave';
      if (fit === 'leave') shut.push(...tasks);
      if (fit !== 'run') continue;
      if (tasks.length === 0) {
        add.push(n.id);
        continue;
      }
      const clean = tasks.filter((t) => !isTaskDirty(service, t));
      const dirty = tasks.filter((t) => isTaskDirty(service, t));
      if (dirty.length > 0 || clean.length > 1) update.push({ nodeId: n.id, old: [...dirty, ...clean.slice(1)], addNew: clean.length === 0 });
    }
    // Tasks on nodes that no longer exist (or never had one).
    for (const tasks of byNodeId.values()) shut.push(...tasks);

    const cluster = this.#cluster;
    const now = this.#clock.now();
    const result = await this.#store.batch((b) => {
      for (const nodeId of add) {
        b.update((tx) => {
          const current = tx.services.get(serviceId);
          if (!isGlobal(current)) return;
          // Re-check on write: the node may have got one meanwhile.
          if (tx.tasks.find(byNode(nodeId)).some((t) => t.service_id === serviceId && runnable(t))) return;
          tx.tasks.create(newTask(current, nodeId, cluster, { now }));
        });
      }
      for (const t of shut) {
        b.update((tx) => {
          const current = tx.tasks.get(t.id);
          if (current) this.#restarts.shutdown(tx, current);
        });
      }
      for (const u of update) {
        b.update((tx) => {
          const current = tx.services.get(serviceId);
          if (!isGlobal(current)) return;
          const old = u.old.map((t) => tx.tasks.get(t.id)).filter((t): t is Task__Output => !!t && runnable(t));
          if (old.length === 0) return;
          for (const t of old) tx.tasks.update({ ...t, desired_state: 'SHUTDOWN' });
          if (!u.addNew) return;
          const replacement = newTask(current, u.nodeId, cluster, { now });
          const running = old.find((t) => !hasStopped(t));
          if (running) replacement.desired_state = 'READY';
          tx.tasks.create(replacement);
          if (running) this.#restarts.delayStart(running, replacement.id as string, 0, true);
        });
      }
    });
    for (const f of result.failed) {
      this.#logger.warn('reconciling a global service failed', { 'service.id': serviceId, err: errorMessage(f.error) });
    }
  }
}
