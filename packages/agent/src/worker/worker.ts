// The worker (swarmkit's worker + task manager): keeps one runner per
// assigned task, applies the managers' assignments (complete sets and
// incremental changes), reports every status change, and remembers tasks and
// statuses on disk so an agent restart re-adopts its running containers.
import { errorMessage, nopLogger, type Logger, type Node__Output, type TaskStatus__Output, type Task__Output } from '@shoal/api';
import type { Executor } from '../exec/executor.js';
import { isTerminal, stateRank } from '../exec/task-state.js';
import type { StatusReporter } from './reporter.js';
import { TaskRunner } from './task-runner.js';
import { TaskStore } from './task-store.js';

export interface WorkerOptions {
  executor: Executor;
  reporter: StatusReporter;
  /** Where the worker keeps its task file (e.g. <data-root>/swarm/worker). */
  dataDir: string;
  logger?: Logger;
  /** Retry delays of the runners (tests shorten them). */
  retryMs?: number;
  maxRetryMs?: number;
}

/** A change to the assigned set. */
export interface AssignmentUpdate {
  updated: Task__Output[];
  removed: string[];
}

export class Worker {
  private readonly runners = new Map<string, TaskRunner>();
  private readonly removing = new Map<string, Promise<void>>();
  private readonly store: TaskStore;
  private readonly log: Logger;
  private readonly life = new AbortController();
  private opened = false;
  private sawCompleteSet = false;

  constructor(private readonly o: WorkerOptions) {
    this.store = new TaskStore(o.dataDir);
    this.log = (o.logger ?? nopLogger).child({ component: 'worker' });
  }

  /**
   * Loads the tasks known before a restart and resumes driving them from
   * their last status (their containers are re-adopted by the controllers).
   * @throws DataLoss for a corrupt task file; fs errors.
   */
  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    for (const { task, status } of await this.store.load()) {
      this.log.info('re-adopting task', { 'task.id': task.id, state: status.state });
      this.startRunner(task, status);
    }
  }

  /** The tasks the worker drives and their last status. */
  tasks(): { task: Task__Output; status: TaskStatus__Output }[] {
    return [...this.runners.values()].map((r) => ({ task: r.latest, status: r.status }));
  }

  status(taskId: string): TaskStatus__Output | undefined {
    return this.runners.get(taskId)?.status;
  }

  /** Reports every task's current status again (after a new session opens). */
  reportAll(): void {
    for (const r of this.runners.values()) this.o.reporter.report(r.latest.id, r.status);
  }

  /** Passes the node object to the executor. */
  async configure(node: Node__Output, signal: AbortSignal): Promise<void> {
    await this.o.executor.configure(node, signal);
  }

  /**
   * The complete set of tasks assigned to this node: tasks not in it are
   * shut down, their containers removed and forgotten. The first complete
   * set also removes executor containers of tasks nobody knows.
   */
  async assign(tasks: Task__Output[], signal: AbortSignal): Promise<void> {
    const keep = new Set(tasks.map((t) => t.id));
    for (const t of tasks) this.upsert(t);
    for (const id of [...this.runners.keys()]) if (!keep.has(id)) this.remove(id);
    if (!this.sawCompleteSet && this.o.executor.listTasks) {
      this.sawCompleteSet = true;
      try {
        for (const id of await this.o.executor.listTasks(signal)) {
          if (!keep.has(id) && !this.runners.has(id) && !this.removing.has(id)) {
            this.log.info('removing the container of an unknown task', { 'task.id': id });
            this.removeOrphan(id);
          }
        }
      } catch (err) {
        if (!signal.aborted) this.log.warn('listing containers failed', { error: errorMessage(err) });
      }
    }
    await this.store.sync();
  }

  /** Incremental changes to the assigned set. */
  async update(u: AssignmentUpdate): Promise<void> {
    for (const t of u.updated) this.upsert(t);
    for (const id of u.removed) this.remove(id);
    await this.store.sync();
  }

  /** Stops every runner; containers keep running. Waits for pending removals and the task file. */
  async close(): Promise<void> {
    this.life.abort();
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.runners.clear();
    await Promise.allSettled([...this.removing.values()]);
    await this.store.sync().catch((err: unknown) => this.log.warn('writing the task file failed', { error: errorMessage(err) }));
  }

  private upsert(task: Task__Output): void {
    if (this.life.signal.aborted) return;
    const runner = this.runners.get(task.id);
    if (runner) {
      runner.update(task);
      this.store.put(task, runner.status);
      return;
    }
    if (this.removing.has(task.id)) return;
    const status = task.status ?? { timestamp: null, state: 'ASSIGNED', message: '', err: '', container_status: null };
    this.startRunner(task, stateRank(status.state) < stateRank('ASSIGNED') ? { ...status, state: 'ASSIGNED' } : status);
  }

  private startRunner(task: Task__Output, status: TaskStatus__Output): void {
    const log = this.log.child({ 'task.id': task.id, 'service.id': task.service_id });
    let runner: TaskRunner;
    try {
      runner = new TaskRunner(task, status, this.o.executor.controller(task), {
        logger: log,
        ...(this.o.retryMs !== undefined ? { retryMs: this.o.retryMs } : {}),
        ...(this.o.maxRetryMs !== undefined ? { maxRetryMs: this.o.maxRetryMs } : {}),
        onStatus: (t, s) => {
          if (this.runners.get(t.id) !== runner) return;
          this.store.put(runner.latest, s);
          this.o.reporter.report(t.id, s);
        },
      });
    } catch (err) {
      // No controller at all (no spec): the task cannot run here.
      const rejected: TaskStatus__Output = { ...status, state: isTerminal(status.state) ? status.state : 'REJECTED', err: errorMessage(err) };
      this.store.put(task, rejected);
      this.o.reporter.report(task.id, rejected);
      return;
    }
    this.runners.set(task.id, runner);
    this.store.put(task, status);
    runner.start();
  }

  /** No longer assigned: stop driving it, stop and remove its container, forget it. */
  private remove(id: string): void {
    const runner = this.runners.get(id);
    if (!runner) {
      this.store.delete(id);
      return;
    }
    this.runners.delete(id);
    const log = this.log.child({ 'task.id': id });
    const done = (async () => {
      await runner.stop();
      const signal = AbortSignal.any([this.life.signal, AbortSignal.timeout(60_000)]);
      try {
        if (!isTerminal(runner.status.state)) await runner.controller.shutdown(signal);
        await runner.controller.remove(signal);
      } catch (err) {
        log.warn('removing the task container failed', { error: errorMessage(err) });
      }
      this.store.delete(id);
    })().finally(() => this.removing.delete(id));
    this.removing.set(id, done);
  }

  private removeOrphan(id: string): void {
    const task = { id } as Task__Output;
    const done = (async () => {
      const signal = AbortSignal.any([this.life.signal, AbortSignal.timeout(60_000)]);
      try {
        const ctl = this.o.executor.controller(task);
        await ctl.shutdown(signal);
        await ctl.remove(signal);
        await ctl.close();
      } catch (err) {
        this.log.warn('removing an orphaned container failed', { 'task.id': id, error: errorMessage(err) });
      }
    })().finally(() => this.removing.delete(id));
    this.removing.set(id, done);
  }
}
