// The scheduler-only benchmark: N simulated nodes and M PENDING tasks in a
// MemoryStore; the time from starting the scheduler until every task is
// ASSIGNED in the store (reading the view, deciding and writing included).
import { nopLogger } from '@shoal/api';
import type { Logger, Node, Task } from '@shoal/api';
import { MemoryStore, encodeSnapshot } from '../store/index.js';
import type { SnapshotContents } from '../store/index.js';
import { Scheduler } from './scheduler.js';
import type { SchedulingPass } from './scheduler.js';

export interface BenchScheduleOptions {
  /** Simulated nodes (default 1,000). */
  nodes?: number;
  /** PENDING tasks to place (default 100,000). */
  tasks?: number;
  /** Services the tasks belong to (default tasks / 1,000, at least 1). */
  services?: number;
  /** Gives up after this long (default 300 s). */
  timeoutMs?: number;
  logger?: Logger;
}

export interface BenchScheduleResult {
  nodes: number;
  tasks: number;
  /** Starting the scheduler → every task ASSIGNED in the store. */
  elapsedMs: number;
  /**
   * CPU time (user + system, all threads, GC included) the process spent in
   * that span: less sensitive than elapsedMs to other work on the machine.
   */
  cpuMs: number;
  /** Filling the store (not part of elapsedMs). */
  setupMs: number;
  /** Time in the scheduler's passes: deciding, and writing decisions. */
  decideMs: number;
  writeMs: number;
  passes: SchedulingPass[];
}

const GiB = 1024 ** 3;
const ZONES = ['z0', 'z1', 'z2', 'z3'];

function nodeObject(i: number): Node {
  const id = `node${String(i).padStart(6, '0')}`;
  return {
    id,
    meta: { version: { index: '1' } },
    role: 'WORKER',
    spec: {
      annotations: { name: '', labels: { zone: ZONES[i % ZONES.length] as string } },
      membership: 'ACCEPTED',
      availability: 'ACTIVE',
      desired_role: 'WORKER',
    },
    description: {
      hostname: `host-${i}`,
      platform: { os: 'linux', architecture: 'amd64' },
      resources: { nano_cpus: String(64e9), memory_bytes: String(256 * GiB) },
    },
    status: { state: 'READY' },
  };
}

function taskObject(i: number, services: number): Task {
  const s = i % services;
  const placement: NonNullable<NonNullable<Task['spec']>['placement']> = {};
  // A mix that exercises every kind of work: constraints on a quarter of the
  // services, spreading over zones on a fifth.
  if (s % 4 === 1) placement.constraints = ['node.labels.zone!=z3', 'node.platform.os==linux'];
  if (s % 5 === 2) placement.preferences = [{ spread: { spread_descriptor: 'node.labels.zone' } }];
  return {
    id: `task${String(i).padStart(7, '0')}`,
    meta: { version: { index: '1' } },
    service_id: `svc${s}`,
    slot: Math.floor(i / services) + 1,
    spec_version: { index: '1' },
    desired_state: 'RUNNING',
    status: { state: 'PENDING', message: 'pending task scheduling' },
    service_annotations: { name: `svc${s}` },
    spec: {
      container: { image: 'busybox:latest', args: ['sleep', 'infinity'] },
      resources: { reservations: { nano_cpus: String(1e8), memory_bytes: String(64 * 1024 * 1024) } },
      placement,
    },
  };
}

/**
 * Places `tasks` PENDING tasks on `nodes` simulated nodes and measures how long
 * the scheduler takes until all are ASSIGNED in the store.
 * @throws Error when the tasks are not all assigned within timeoutMs.
 */
export async function benchSchedule(options: BenchScheduleOptions = {}): Promise<BenchScheduleResult> {
  const nodeCount = options.nodes ?? 1000;
  const taskCount = options.tasks ?? 100_000;
  const services = options.services ?? Math.max(1, Math.floor(taskCount / 1000));
  const timeoutMs = options.timeoutMs ?? 300_000;

  const s0 = performance.now();
  const store = new MemoryStore();
  // Filling the store through a snapshot is far cheaper than 100,000 creates,
  // and is not what is being measured.
  const tables = { nodes: [], services: [], tasks: [], networks: [], volumes: [], secrets: [], configs: [], clusters: [] } as unknown as Record<string, unknown[]>;
  for (let i = 0; i < nodeCount; i++) tables.nodes?.push(nodeObject(i));
  for (let i = 0; i < taskCount; i++) tables.tasks?.push(taskObject(i, services));
  store.restore(encodeSnapshot({ index: 1, tables } as unknown as SnapshotContents));
  const setupMs = performance.now() - s0;

  const passes: SchedulingPass[] = [];
  let assigned = 0;
  const ac = new AbortController();
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`benchSchedule: only ${assigned} of ${taskCount} tasks were assigned within ${timeoutMs} ms.`));
    }, timeoutMs);
    const watcher = store.watch({ tables: ['tasks'], kinds: ['update'] }, { signal: ac.signal, bufferSize: 1 << 22 });
    void (async () => {
      for (;;) {
        const r = await watcher.next();
        if (r.done) return;
        for (const e of [r.value, ...watcher.drain()]) {
          if (e.kind === 'update' && e.table === 'tasks' && e.object.status?.state === 'ASSIGNED' && e.old?.status?.state === 'PENDING') {
            if (++assigned === taskCount) {
              clearTimeout(timer);
              resolve();
              return;
            }
          }
        }
      }
    })().catch(reject);
  });

  const scheduler = new Scheduler(store, { logger: options.logger ?? nopLogger, onPass: (p) => passes.push(p) });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const running = scheduler.run(ac.signal);
  let elapsedMs: number;
  let cpuMs: number;
  try {
    await done;
    elapsedMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpuMs = (c.user + c.system) / 1000;
  } finally {
    ac.abort();
    await running;
    store.close();
  }
  return {
    nodes: nodeCount,
    tasks: taskCount,
    elapsedMs,
    cpuMs,
    setupMs,
    decideMs: passes.reduce((a, p) => a + p.decideMs, 0),
    writeMs: passes.reduce((a, p) => a + p.writeMs, 0),
    passes,
  };
}
