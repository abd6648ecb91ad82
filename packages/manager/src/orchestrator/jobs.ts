// The jobs orchestrator, for both job modes. Job tasks run to completion:
// they are created with desired state COMPLETE, a COMPLETE task is success
// and is never restarted, and failed ones go to the restart supervisor.
//
// - replicated-job: total_completions tasks must complete, at most
//   max_concurrent running at once (0 = total_completions); each task has its
//   own slot 1..total_completions.
// - global-job: one task on each eligible node (active, READY, satisfying the
//   constraints) that existed when this run of the job started.
//
// Each spec change starts a new run (the iteration is the spec version, kept
// with its start time in service.job_status); tasks of older runs that are
// still going are shut down.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Cluster__Output, Logger, Service__Output, Task__Output } from '@shoal/api';
import { nodeMatches } from '../constraint/index.js';
import { all, byService } from '../store/index.js';
import type { Batch, MemoryStore, ReadTx, StoreChangeEvent } from '../store/index.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { serviceConstraints } from './global.js';
import { runLoop } from '../store/run-loop.js';
import type { OrchestratorDeps } from './replicated.js';
import { removeServiceTasks, setDesired } from './replicated.js';
import { RestartSupervisor } from './restart-supervisor.js';
import {
  hasStopped,
  invalidNode,
  isDesiredLive,
  isJobMode,
  jobIteration,
  newTask,
  nodeChangeMatters,
  observed,
  serviceMode,
  timestampMs,
  toTimestamp,
} from './task.js';

const isJob = (s: Service__Output | null | undefined): s is Service__Output => isJobMode(serviceMode(s));

export class JobsOrchestrator {
  readonly #store: MemoryStore;
  readonly #restarts: RestartSupervisor;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #cluster: Cluster__Output | null = null;
  readonly #jobs = new Map<string, 'replicated_job' | 'global_job'>();
  readonly #dirty = new Set<string>();
  readonly #removed = new Set<string>();

  constructor(store: MemoryStore, deps: OrchestratorDeps = {}) {
    this.#store = store;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'orchestrator.jobs' });
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
    this.#jobs.clear();
    for (const s of tx.services.find(all)) this.#track(s);
  }

  #track(s: Service__Output): void {
    const mode = serviceMode(s);
    if (mode !== 'replicated_job' && mode !== 'global_job') return;
    this.#jobs.set(s.id, mode);
    this.#dirty.add(s.id);
  }

  #onEvent(e: StoreChangeEvent): void {
    switch (e.table) {
      case 'clusters':
        if (e.kind !== 'delete') this.#cluster = e.object;
        return;
      case 'services':
        if (!isJob(e.object)) return;
        if (e.kind === 'delete') {
          this.#jobs.delete(e.object.id);
          this.#dirty.delete(e.object.id);
          this.#removed.add(e.object.id);
          this.#restarts.clearServiceHistory(e.object.id);
        } else {
          this.#track(e.object);
        }
        return;
      case 'tasks':
        if (e.kind === 'delete') this.#restarts.cancel(e.object.id);
        if (this.#jobs.has(e.object.service_id)) this.#dirty.add(e.object.service_id);
        return;
      case 'nodes':
        // Global jobs may gain or lose nodes; any job may have tasks on a node that went away.
        if (nodeChangeMatters(e.kind, e.object, e.old)) for (const id of this.#jobs.keys()) this.#dirty.add(id);
        return;
      default:
        return;
    }
  }

  async #tick(): Promise<void> {
    if (this.#removed.size > 0) {
      const ids = [...this.#removed];
      this.#removed.clear();
      await removeServiceTasks(this.#store, ids, this.#logger);
    }
    const ids = [...this.#dirty];
    this.#dirty.clear();
    for (const id of ids) {
      try {
        await this.#reconcile(id);
      } catch (err) {
        this.#dirty.add(id);
        throw err;
      }
    }
  }

  async #reconcile(serviceId: string): Promise<void> {
    let service = this.#store.view((tx) => tx.services.get(serviceId));
    if (!isJob(service)) return;
    if (service.job_status?.job_iteration?.index !== jobIteration(service)) {
      // A new run starts: record which, and when (global jobs run only on
      // nodes that existed by then).
      const now = this.#clock.now();
      service = await this.#store.update((tx) => {
        const s = tx.services.get(serviceId);
        if (!isJob(s) || s.job_status?.job_iteration?.index === jobIteration(s)) return s;
        return tx.services.update({ ...s, job_status: { job_iteration: { index: jobIteration(s) }, last_execution: toTimestamp(now) } });
      });
      if (!isJob(service)) return;
    }
    const snapshot = this.#store.view((tx) => ({ tasks: tx.tasks.find(byService(serviceId)), nodes: tx.nodes.find(all) }));
    const job = service;
    const cluster = this.#cluster;
    const now = this.#clock.now();
    const iteration = jobIteration(job);
    const current = snapshot.tasks.filter((t) => t.job_iteration?.index === iteration);
    const stale = snapshot.tasks.filter((t) => t.job_iteration?.index !== iteration && isDesiredLive(t) && !hasStopped(t));
    const failed = current.filter((t) => isDesiredLive(t) && hasStopped(t) && observed(t) !== 'COMPLETE');
    const nodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
    // A replicated job's task whose node went away is moved, like a service's (not a failure).
    const moved =
      serviceMode(job) === 'replicated_job'
        ? current.filter((t) => isDesiredLive(t) && !hasStopped(t) && t.node_id !== '' && invalidNode(nodes.get(t.node_id)))
        : [];

    const result = await this.#store.batch((b) => {
      if (serviceMode(job) === 'replicated_job') this.#planReplicated(b, job, current, cluster, now);
      else this.#planGlobal(b, job, current, snapshot.nodes, cluster, now);
      for (const t of failed) {
        b.update((tx) => {
          const fresh = tx.tasks.get(t.id);
          const s = tx.services.get(serviceId);
          if (!fresh || !isDesiredLive(fresh) || !isJob(s)) return;
          if (serviceMode(s) === 'global_job' && invalidNode(tx.nodes.get(fresh.node_id))) this.#restarts.shutdown(tx, fresh);
          else this.#restarts.restart(tx, cluster, s, fresh, 'failure');
        });
      }
      for (const t of moved) {
        b.update((tx) => {
          const fresh = tx.tasks.get(t.id);
          const s = tx.services.get(serviceId);
          if (!fresh || !isDesiredLive(fresh) || hasStopped(fresh) || !isJob(s)) return;
          if (invalidNode(tx.nodes.get(fresh.node_id))) this.#restarts.restart(tx, cluster, s, fresh, 'node');
        });
      }
      for (const t of stale) b.update((tx) => setDesired(tx, t.id, 'SHUTDOWN'));
    });
    for (const f of result.failed) this.#logger.warn('reconciling a job failed', { 'service.id': serviceId, err: errorMessage(f.error) });
  }

  /** Whether a slot's (or node's) run has ended in failure for good: its restarts are used up. */
  #gaveUp(tasks: Task__Output[], service: Service__Output): boolean {
    const last = tasks.reduce<Task__Output | undefined>(
      (a, t) => (!a || (timestampMs(t.meta?.created_at) ?? 0) >= (timestampMs(a.meta?.created_at) ?? 0) ? t : a),
      undefined,
    );
    return !!last && !isDesiredLive(last) && hasStopped(last) && observed(last) !== 'COMPLETE' && !this.#restarts.shouldRestart(last, service);
  }

  #planReplicated(b: Batch, job: Service__Output, current: Task__Output[], cluster: Cluster__Output | null, now: number): void {
    const total = Number(job.spec?.replicated_job?.total_completions ?? 0);
    const maxConcurrent = Number(job.spec?.replicated_job?.max_concurrent ?? 0) || total;
    const bySlot = new Map<number, Task__Output[]>();
    for (const t of current) {
      const list = bySlot.get(Number(t.slot));
      if (list) list.push(t);
      else bySlot.set(Number(t.slot), [t]);
    }
    let running = 0;
    let done = 0;
    const taken = new Set<number>();
    for (const [slot, tasks] of bySlot) {
      if (tasks.some((t) => observed(t) === 'COMPLETE')) {
        done++;
        taken.add(slot);
      } else if (tasks.some(isDesiredLive)) {
        running++;
        taken.add(slot);
      } else if (this.#gaveUp(tasks, job)) {
        done++; // finished, unsuccessfully
        taken.add(slot);
      }
    }
    const count = Math.max(0, Math.min(maxConcurrent - running, total - done - running));
    const slots: number[] = [];
    for (let s = 1; s <= total && slots.length < count; s++) if (!taken.has(s)) slots.push(s);
    for (const slot of slots) {
      b.update((tx) => {
        const s = tx.services.get(job.id);
        if (!isJob(s) || jobIteration(s) !== jobIteration(job)) return;
        tx.tasks.create(newTask(s, slot, cluster, { now }));
      });
    }
  }

  #planGlobal(
    b: Batch,
    job: Service__Output,
    current: Task__Output[],
    nodes: ReturnType<ReadTx['nodes']['find']>,
    cluster: Cluster__Output | null,
    now: number,
  ): void {
    let constraints;
    try {
      constraints = serviceConstraints(job);
    } catch (err) {
      this.#logger.warn('a global job has invalid constraints; it runs nowhere', { 'service.id': job.id, err: errorMessage(err) });
      return;
    }
    const started = timestampMs(job.job_status?.last_execution) ?? timestampMs(job.meta?.created_at) ?? now;
    const byNodeId = new Map<string, Task__Output[]>();
    for (const t of current) {
      const list = byNodeId.get(t.node_id);
      if (list) list.push(t);
      else byNodeId.set(t.node_id, [t]);
    }
    for (const n of nodes) {
      const tasks = byNodeId.get(n.id) ?? [];
      if (invalidNode(n)) {
        for (const t of tasks) {
          if (!isDesiredLive(t) || hasStopped(t)) continue;
          b.update((tx) => {
            const fresh = tx.tasks.get(t.id);
            if (fresh && isDesiredLive(fresh)) this.#restarts.shutdown(tx, fresh);
          });
        }
        continue;
      }
      if (!nodeMatches(constraints, n) || n.spec?.availability !== 'ACTIVE' || n.status?.state !== 'READY') continue;
      if ((timestampMs(n.meta?.created_at) ?? 0) > started) continue; // joined after this run began
      if (tasks.some((t) => isDesiredLive(t) || observed(t) === 'COMPLETE') || this.#gaveUp(tasks, job)) continue;
      b.update((tx) => {
        const s = tx.services.get(job.id);
        if (!isJob(s) || jobIteration(s) !== jobIteration(job)) return;
        tx.tasks.create(newTask(s, n.id, cluster, { now }));
      });
    }
  }
}
