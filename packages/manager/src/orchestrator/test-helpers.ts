// Test scaffolding for the orchestrator components: a store on a manual
// clock, service and node builders, and a test that plays the scheduler and
// the agent by writing task status by hand.
import type { Node, Service, TaskState__Output, Task__Output } from '@shoal/api';
import { byService } from '../store/index.js';
import { MemoryStore } from '../store/index.js';
import { ManualClock } from '../clock/clock.js';
import { toTimestamp } from './task.js';

export interface Harness {
  clock: ManualClock;
  store: MemoryStore;
  /** Starts a component; `stop` aborts them all and waits for them. */
  start(component: { run(signal: AbortSignal): Promise<void> }): void;
  stop(): Promise<void>;
}

export function harness(): Harness {
  const clock = new ManualClock();
  const store = new MemoryStore(undefined, { now: () => new Date(clock.now()) });
  const ctl = new AbortController();
  const running: Array<Promise<void>> = [];
  return {
    clock,
    store,
    start: (c) => void running.push(c.run(ctl.signal)),
    stop: async () => {
      ctl.abort();
      await Promise.all(running);
      store.close();
    },
  };
}

let version = 1;

export interface ServiceOptions {
  mode?: 'replicated' | 'global' | 'replicated_job' | 'global_job';
  replicas?: number;
  maxConcurrent?: number;
  image?: string;
  constraints?: string[];
  restart?: { condition?: 'ANY' | 'NONE' | 'ON_FAILURE'; delayMs?: number; maxAttempts?: number; windowMs?: number };
  memory?: number;
}

const duration = (ms: number): { seconds: number; nanos: number } => ({
  seconds: Math.floor(ms / 1000),
  nanos: (ms % 1000) * 1_000_000,
});

export function service(id: string, name: string, o: ServiceOptions = {}): Service {
  const mode = o.mode ?? 'replicated';
  const r = o.restart;
  return {
    id,
    spec_version: { index: version++ },
    spec: {
      annotations: { name, labels: {} },
      task: {
        container: { image: o.image ?? 'busybox:latest', args: ['sleep', '1000'] },
        placement: { constraints: o.constraints ?? [] },
        restart: r
          ? {
              condition: r.condition ?? 'ANY',
              delay: duration(r.delayMs ?? 0),
              max_attempts: r.maxAttempts ?? 0,
              window: duration(r.windowMs ?? 0),
            }
          : null,
        resources: o.memory ? { reservations: { memory_bytes: o.memory } } : null,
      },
      ...(mode === 'replicated' ? { replicated: { replicas: o.replicas ?? 1 } } : {}),
      ...(mode === 'global' ? { global: {} } : {}),
      ...(mode === 'replicated_job'
        ? { replicated_job: { total_completions: o.replicas ?? 1, max_concurrent: o.maxConcurrent ?? 0 } }
        : {}),
      ...(mode === 'global_job' ? { global_job: {} } : {}),
    },
  };
}

/** A new spec version of a stored service, changed by `change`. */
export function respec(s: Service, change: (spec: NonNullable<Service['spec']>) => void): Service {
  const next = structuredClone(s);
  if (next.spec) change(next.spec);
  next.spec_version = { index: version++ };
  return next;
}

export interface NodeOptions {
  availability?: 'ACTIVE' | 'PAUSE' | 'DRAIN';
  state?: 'READY' | 'DOWN' | 'UNKNOWN';
  labels?: Record<string, string>;
  memory?: number;
}

export function node(id: string, o: NodeOptions = {}): Node {
  return {
    id,
    role: 'WORKER',
    spec: {
      membership: 'ACCEPTED',
      availability: o.availability ?? 'ACTIVE',
      annotations: { name: '', labels: o.labels ?? {} },
    },
    description: {
      hostname: id,
      platform: { os: 'linux', architecture: 'amd64' },
      resources: o.memory ? { memory_bytes: o.memory, nano_cpus: 4e9 } : null,
    },
    status: { state: o.state ?? 'READY' },
  };
}

/** Changes a stored node. */
export async function updateNode(store: MemoryStore, id: string, change: (n: Node) => void): Promise<void> {
  await store.update((tx) => {
    const n = tx.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    change(n);
    tx.nodes.update(n);
  });
}

/** Plays the scheduler and the agent: sets a task's observed state (and node). */
export async function setState(
  h: Harness,
  taskId: string,
  state: TaskState__Output,
  nodeId?: string,
): Promise<void> {
  await h.store.update((tx) => {
    const t = tx.tasks.get(taskId);
    if (!t) throw new Error(`no task ${taskId}`);
    tx.tasks.update({
      ...t,
      node_id: nodeId ?? t.node_id,
      status: { ...t.status, state, timestamp: toTimestamp(h.clock.now()) },
    });
  });
}

export function tasksOf(store: MemoryStore, serviceId: string): Task__Output[] {
  return store.view((tx) => tx.tasks.find(byService(serviceId)));
}

/** Tasks of a service whose desired state is at most RUNNING (or COMPLETE for jobs). */
export function liveTasks(store: MemoryStore, serviceId: string): Task__Output[] {
  return tasksOf(store, serviceId).filter((t) =>
    ['NEW', 'PENDING', 'ASSIGNED', 'ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING', 'COMPLETE'].includes(t.desired_state),
  );
}

/** Waits (real time, at most `ms`) until `check` holds; returns its last value. */
export async function eventually<T>(check: () => T, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  let last = check();
  while (!last && Date.now() < end) {
    await new Promise<void>((r) => setImmediate(r));
    last = check();
  }
  return last;
}

/** Lets the components react to everything written so far. */
export async function quiesce(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise<void>((r) => setImmediate(r));
}
