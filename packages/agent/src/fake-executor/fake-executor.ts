// An Executor whose containers "run" in memory, with outcomes a test scripts
// per task: for the many-node scale tests and the agent's own tests. One
// FakeExecutor can outlive the agents that use it, the way containers outlive
// an agent restart.
import { notFound, type NodeDescription, type Node__Output, type TaskContainerStatus__Output, type Task__Output } from '@shoal/api';
import type { Controller, Executor } from '../exec/executor.js';
import { errTaskPrepared, errTaskStarted, exitError } from '../exec/errors.js';

/** What the fake does for one task. Errors are thrown from the named method. */
export interface FakeBehavior {
  prepareError?: Error;
  startError?: Error;
  shutdownError?: Error;
  /** How long the "process" runs before exiting with `exitCode`; unset = until shut down. */
  runMs?: number;
  exitCode?: number;
  /** Extra time each call takes (to let tests observe intermediate states). */
  delayMs?: number;
}

export type FakeContainerState = 'created' | 'running' | 'exited';

/** One in-memory container. */
export interface FakeContainer {
  id: string;
  taskId: string;
  name: string;
  state: FakeContainerState;
  exitCode: number;
  pid: number;
  starts: number;
}

export interface FakeExecutorOptions {
  description?: NodeDescription;
  behavior?: (task: Task__Output) => FakeBehavior;
}

/** One call a controller received, for assertions. */
export interface FakeCall {
  taskId: string;
  method: 'prepare' | 'start' | 'wait' | 'shutdown' | 'terminate' | 'remove';
}

export class FakeExecutor implements Executor {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: FakeCall[] = [];
  node: Node__Output | undefined;
  private readonly exitWaiters = new Map<string, Set<() => void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private nextPid = 1000;

  constructor(private readonly o: FakeExecutorOptions = {}) {}

  async describe(signal: AbortSignal): Promise<NodeDescription> {
    signal.throwIfAborted();
    return (
      this.o.description ?? {
        hostname: 'fake-node',
        platform: { architecture: 'amd64', os: 'linux' },
        resources: { nano_cpus: 4e9, memory_bytes: 8 * 2 ** 30 },
        engine: { engine_version: 'fake', labels: {}, plugins: [] },
      }
    );
  }

  async configure(node: Node__Output, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.node = node;
  }

  controller(task: Task__Output): Controller {
    return new FakeController(this, task, this.o.behavior?.(task) ?? {});
  }

  async listTasks(signal: AbortSignal): Promise<string[]> {
    signal.throwIfAborted();
    return [...this.containers.keys()];
  }

  /** Makes a running container exit now with `code`, as if its process died. */
  exit(taskId: string, code: number): void {
    const c = this.containers.get(taskId);
    if (!c || c.state !== 'running') return;
    clearTimeout(this.timers.get(taskId));
    this.timers.delete(taskId);
    c.state = 'exited';
    c.exitCode = code;
    for (const w of this.exitWaiters.get(taskId) ?? []) w();
    this.exitWaiters.delete(taskId);
  }

  /** Clears every timer (the containers stay as they are). */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** @internal */
  record(taskId: string, method: FakeCall['method']): void {
    this.calls.push({ taskId, method });
  }

  /** @internal */
  run(c: FakeContainer, b: FakeBehavior): void {
    c.state = 'running';
    c.pid = this.nextPid++;
    c.starts++;
    if (b.runMs !== undefined) {
      const timer = setTimeout(() => this.exit(c.taskId, b.exitCode ?? 0), b.runMs);
      this.timers.set(c.taskId, timer);
    }
  }

  /** @internal Resolves when the container exits; rejects with the signal's reason. */
  exited(taskId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const set = this.exitWaiters.get(taskId) ?? new Set();
      this.exitWaiters.set(taskId, set);
      const onAbort = (): void => {
        set.delete(done);
        reject(signal.reason as Error);
      };
      const done = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      set.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

class FakeController implements Controller {
  constructor(
    private readonly ex: FakeExecutor,
    private task: Task__Output,
    private readonly b: FakeBehavior,
  ) {}

  private async enter(method: FakeCall['method'], signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.ex.record(this.task.id, method);
    if (this.b.delayMs) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, this.b.delayMs);
        const onAbort = (): void => {
          clearTimeout(t);
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private container(): FakeContainer {
    const c = this.ex.containers.get(this.task.id);
    if (!c) throw notFound(`No such container for task ${this.task.id}`);
    return c;
  }

  async update(task: Task__Output): Promise<void> {
    this.task = task;
  }

  async prepare(signal: AbortSignal): Promise<void> {
    await this.enter('prepare', signal);
    if (this.ex.containers.has(this.task.id)) throw errTaskPrepared();
    if (this.b.prepareError) throw this.b.prepareError;
    const slot = this.task.slot !== '0' ? this.task.slot : this.task.node_id;
    this.ex.containers.set(this.task.id, {
      id: `fake-${this.task.id}`,
      taskId: this.task.id,
      name: `${this.task.service_annotations?.name ?? 'task'}.${slot}.${this.task.id}`,
      state: 'created',
      exitCode: 0,
      pid: 0,
      starts: 0,
    });
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.enter('start', signal);
    const c = this.container();
    if (c.state !== 'created') throw errTaskStarted();
    if (this.b.startError) throw this.b.startError;
    this.ex.run(c, this.b);
  }

  async wait(signal: AbortSignal): Promise<void> {
    await this.enter('wait', signal);
    const c = this.container();
    if (c.state === 'running') await this.ex.exited(c.taskId, signal);
    if (c.exitCode !== 0) throw exitError(c.exitCode);
  }

  async shutdown(signal: AbortSignal): Promise<void> {
    await this.enter('shutdown', signal);
    if (this.b.shutdownError) throw this.b.shutdownError;
    if (this.ex.containers.get(this.task.id)?.state === 'running') this.ex.exit(this.task.id, 143);
  }

  async terminate(signal: AbortSignal): Promise<void> {
    await this.enter('terminate', signal);
    this.ex.exit(this.task.id, 137);
  }

  async remove(signal: AbortSignal): Promise<void> {
    await this.enter('remove', signal);
    this.ex.exit(this.task.id, 137);
    this.ex.containers.delete(this.task.id);
  }

  async close(): Promise<void> {}

  async containerStatus(): Promise<TaskContainerStatus__Output | undefined> {
    const c = this.ex.containers.get(this.task.id);
    if (!c) return undefined;
    return { container_id: c.id, pid: c.state === 'running' ? c.pid : 0, exit_code: c.exitCode };
  }
}
