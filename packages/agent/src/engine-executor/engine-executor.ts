// The Executor backed by this host's engine: each task is one engine
// container, named and labelled as Docker's swarm executor does, so the
// containers are found again by their task label after an agent restart.
import { cpus, hostname, totalmem } from 'node:os';
import {
  errorCode,
  ErrorCode,
  isNotFound,
  notFound,
  nopLogger,
  type Logger,
  type NodeDescription,
  type Node__Output,
  type TaskContainerStatus__Output,
  type Task__Output,
} from '@shoal/api';
import type { ContainerRecord, Engine } from '@shoal/engine';
import type { Controller, Executor } from '../exec/executor.js';
import { errTaskPrepared, errTaskStarted, exitError } from '../exec/errors.js';
import { containerSpec, LABEL_TASK_ID, taskName } from './container-spec.js';

export interface EngineExecutorOptions {
  /** The engine labels of `--label` (shown to constraints as engine.labels.*). */
  engineLabels?: Record<string, string>;
  /** The engine's version string (default 0.1.0). */
  engineVersion?: string;
  /** Overrides os.hostname() (tests). */
  hostname?: string;
  logger?: Logger;
}

/** The engine's Container service, as far as the executor uses it. */
type Containers = Engine['containers'];

export class EngineExecutor implements Executor {
  private nodeId = '';
  private readonly log: Logger;

  constructor(
    private readonly engine: Pick<Engine, 'containers'>,
    private readonly o: EngineExecutorOptions = {},
  ) {
    this.log = (o.logger ?? nopLogger).child({ component: 'engine-executor' });
  }

  async describe(signal: AbortSignal): Promise<NodeDescription> {
    signal.throwIfAborted();
    return {
      hostname: this.o.hostname ?? hostname(),
      platform: { architecture: goArch(process.arch), os: process.platform },
      resources: { nano_cpus: String(cpus().length * 1e9), memory_bytes: String(totalmem()) },
      engine: { engine_version: this.o.engineVersion ?? '0.1.0', labels: { ...this.o.engineLabels }, plugins: [] },
    };
  }

  async configure(node: Node__Output, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.nodeId = node.id;
  }

  controller(task: Task__Output): Controller {
    return new EngineController(this.engine.containers, task, () => this.nodeId, this.log.child({ 'task.id': task.id }));
  }

  async listTasks(signal: AbortSignal): Promise<string[]> {
    signal.throwIfAborted();
    const ids = new Set<string>();
    for (const rec of this.engine.containers.list()) {
      const id = rec.spec.labels[LABEL_TASK_ID];
      if (id) ids.add(id);
    }
    return [...ids];
  }
}

class EngineController implements Controller {
  constructor(
    private readonly containers: Containers,
    private task: Task__Output,
    private readonly nodeId: () => string,
    private readonly log: Logger,
  ) {}

  /** The task's container, found by its task label (so re-adopted ones are found too). */
  private find(): ContainerRecord | undefined {
    return this.containers.list().find((r) => r.spec.labels[LABEL_TASK_ID] === this.task.id && r.state.status !== 'removing');
  }

  private must(): ContainerRecord {
    const rec = this.find();
    if (!rec) throw notFound(`the container of task ${this.task.id} is gone (removed outside the swarm?); the managers will replace the task`);
    return rec;
  }

  async update(task: Task__Output): Promise<void> {
    this.task = task;
  }

  async prepare(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.find()) throw errTaskPrepared();
    const spec = containerSpec(this.task, this.nodeId());
    try {
      const { id } = await this.containers.create(taskName(this.task), spec);
      this.log.debug('container created', { 'container.id': id });
    } catch (err) {
      // Created by an earlier attempt that raced with this one.
      if (errorCode(err) === ErrorCode.AlreadyExists && this.find()) throw errTaskPrepared();
      throw err;
    }
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.must();
    if (rec.state.status !== 'created') throw errTaskStarted();
    await this.containers.start(rec.id);
  }

  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.must();
    const code = await this.containers.wait(rec.id, 'not-running', signal);
    if (code !== 0) throw exitError(code, rec.state.oomKilled ? 'out of memory' : '');
  }

  async shutdown(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.find();
    if (!rec || (rec.state.status !== 'running' && rec.state.status !== 'paused')) return;
    await this.containers.stop(rec.id);
  }

  async terminate(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.find();
    if (!rec || rec.state.status !== 'running') return;
    await this.containers.kill(rec.id, 'KILL').catch((err: unknown) => {
      if (errorCode(err) !== ErrorCode.FailedPrecondition) throw err;
    });
  }

  async remove(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const rec = this.find();
    if (!rec) return;
    await this.containers.remove(rec.id, true).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  async close(): Promise<void> {}

  async containerStatus(): Promise<TaskContainerStatus__Output | undefined> {
    const rec = this.find();
    if (!rec) return undefined;
    return { container_id: rec.id, pid: rec.state.pid, exit_code: rec.state.exitCode };
  }
}

/** Node's process.arch in Go's (and Docker's) spelling. */
function goArch(arch: string): string {
  return ({ x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[arch] ?? arch;
}
