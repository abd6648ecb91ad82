import test from 'ava';
import type { ExecutionContext } from 'ava';
import { nopLogger } from '@shoal/api';
import type { Node, Task, Task__Output } from '@shoal/api';
import { InMemoryProposer, MemoryStore } from '../store/index.js';
import { Scheduler } from './scheduler.js';
import type { SchedulerClock, SchedulingPass } from './scheduler.js';
import { GiB, MiB, node, task } from './test-fixtures.js';
import { benchSchedule } from './bench.js';

interface Harness {
  store: MemoryStore;
  scheduler: Scheduler;
  passes: SchedulingPass[];
  stop(): Promise<void>;
}

async function start(
  nodes: Node[],
  tasks: Task[],
  o: { store?: MemoryStore; clock?: SchedulerClock; debounceMs?: number } = {},
): Promise<Harness> {
  const store = o.store ?? new MemoryStore();
  if (nodes.length > 0 || tasks.length > 0) {
    await store.update((tx) => {
      for (const n of nodes) tx.nodes.create(n);
      for (const t of tasks) tx.tasks.create(t);
    });
  }
  const passes: SchedulingPass[] = [];
  const ac = new AbortController();
  const s = new Scheduler(store, {
    logger: nopLogger,
    debounceMs: o.debounceMs ?? 2,
    ...(o.clock ? { clock: o.clock } : {}),
    onPass: (p) => passes.push(p),
  });
  const running = s.run(ac.signal);
  return {
    store,
    scheduler: s,
    passes,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

const getTask = (store: MemoryStore, id: string): Task__Output => {
  const t = store.view((tx) => tx.tasks.get(id));
  if (!t) throw new Error(`no task ${id}`);
  return t;
};

async function waitFor(t: ExecutionContext, what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) {
      t.fail(`timed out waiting for ${what}`);
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  t.pass(what);
}

const assignedCount = (store: MemoryStore): number =>
  store.view((tx) => tx.tasks.find().filter((t) => t.status?.state === 'ASSIGNED').length);

const settledPasses = async (h: Harness, n: number): Promise<void> => {
  const end = Date.now() + 5000;
  while (h.passes.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

function perNode(store: MemoryStore, serviceId?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of store.view((tx) => tx.tasks.find())) {
    if (t.status?.state !== 'ASSIGNED' || (serviceId && t.service_id !== serviceId)) continue;
    out[t.node_id] = (out[t.node_id] ?? 0) + 1;
  }
  return out;
}

test('pending tasks are assigned, spread evenly over the ready nodes, in one pass', async (t) => {
  const tasks = Array.from({ length: 6 }, (_, i) => task(`t${i}`, 'web', i + 1));
  const h = await start([node('n1'), node('n2'), node('n3')], tasks);
  await waitFor(t, 'six assignments', () => assignedCount(h.store) === 6);
  t.deepEqual(perNode(h.store), { n1: 2, n2: 2, n3: 2 });
  const t0 = getTask(h.store, 't0');
  t.is(t0.status?.message, 'scheduler assigned task to node');
  t.is(t0.status?.err, '');
  t.is(h.passes[0]?.assigned, 6);
  await h.stop();
});

test('tasks that are not PENDING or no longer wanted are left alone', async (t) => {
  const h = await start(
    [node('n1')],
    [task('new', 'web', 1, { state: 'NEW' }), task('gone', 'web', 2, { desired: 'SHUTDOWN' }), task('ok', 'web', 3)],
  );
  await waitFor(t, 'the pending task', () => getTask(h.store, 'ok').status?.state === 'ASSIGNED');
  t.is(getTask(h.store, 'new').node_id, '');
  t.is(getTask(h.store, 'gone').node_id, '');
  t.is(getTask(h.store, 'gone').status?.state, 'PENDING');
  await h.stop();
});

test('when nothing fits, the task stays PENDING and says why (swarmkit wording)', async (t) => {
  const nodes = [
    node('m1', { memory: 256 * MiB }),
    node('m2', { memory: 256 * MiB }),
    node('m3', { memory: 256 * MiB }),
    node('d1', { availability: 'DRAIN' }),
    node('p1', { availability: 'PAUSE' }),
  ];
  const h = await start(nodes, [task('big', 'db', 1, { memory: 1 * GiB })]);
  const want = 'no suitable node (insufficient memory on 3 nodes; 2 nodes not available)';
  await waitFor(t, 'the explanation', () => getTask(h.store, 'big').status?.err === want);
  const big = getTask(h.store, 'big');
  t.is(big.status?.state, 'PENDING');
  t.is(big.status?.message, want);
  t.is(big.node_id, '');
  t.deepEqual(
    h.scheduler.rank('big')?.map((r) => [r.nodeId, r.failed]),
    [['d1', 'availability'], ['m1', 'resources'], ['m2', 'resources'], ['m3', 'resources'], ['p1', 'availability']],
  );
  await h.stop();
});

test('the explanation is written once, not again on every pass', async (t) => {
  const h = await start([node('n1', { state: 'DOWN' })], [task('a', 'web', 1)]);
  await waitFor(t, 'the explanation', () => getTask(h.store, 'a').status?.err === 'no suitable node (1 node not ready)');
  const version = getTask(h.store, 'a').meta?.version?.index;
  // A node change makes the scheduler look again, and find the same.
  await h.store.update((tx) => {
    const n = tx.nodes.get('n1');
    if (!n?.spec?.annotations) throw new Error('no node');
    n.spec.annotations.labels = { zone: 'a' };
    tx.nodes.update(n);
  });
  await settledPasses(h, 2);
  await new Promise((r) => setTimeout(r, 30));
  t.is(getTask(h.store, 'a').meta?.version?.index, version);
  t.is(getTask(h.store, 'a').status?.err, 'no suitable node (1 node not ready)', 'the old sentence stays: nothing changed it');
  await h.stop();
});

test('a task waiting for a node is placed when a node becomes ready later', async (t) => {
  const h = await start([node('n1', { state: 'DOWN' })], [task('a', 'web', 1)]);
  await waitFor(t, 'the explanation', () => getTask(h.store, 'a').status?.err !== '');
  await h.store.update((tx) => {
    const n = tx.nodes.get('n1');
    if (!n?.status) throw new Error('no node');
    n.status.state = 'READY';
    tx.nodes.update(n);
  });
  await waitFor(t, 'the assignment', () => getTask(h.store, 'a').status?.state === 'ASSIGNED');
  t.is(getTask(h.store, 'a').node_id, 'n1');
  t.is(getTask(h.store, 'a').status?.err, '');
  await h.stop();
});

test('a task created after the start is scheduled on the next commit', async (t) => {
  const h = await start([node('n1')], []);
  await h.store.update((tx) => void tx.tasks.create(task('late', 'web', 1)));
  await waitFor(t, 'the assignment', () => getTask(h.store, 'late').status?.state === 'ASSIGNED');
  await h.stop();
});

test('reservations refuse overcommit: tasks beyond a node capacity stay pending', async (t) => {
  const tasks = Array.from({ length: 3 }, (_, i) => task(`t${i}`, 'db', i + 1, { memory: 400 * MiB }));
  const h = await start([node('n1', { memory: 1 * GiB })], tasks);
  await waitFor(t, 'two assignments and one refusal', () =>
    assignedCount(h.store) === 2 &&
    h.store.view((tx) => tx.tasks.find()).some((x) => x.status?.err === 'no suitable node (insufficient memory on 1 node)'),
  );
  // Freeing one reservation lets the third in.
  const placed = h.store.view((tx) => tx.tasks.find()).find((x) => x.status?.state === 'ASSIGNED');
  await h.store.update((tx) => {
    const x = tx.tasks.get(placed?.id ?? '');
    if (!x?.status) throw new Error('no task');
    x.status.state = 'SHUTDOWN';
    tx.tasks.update(x);
  });
  await waitFor(t, 'the third assignment', () => assignedCount(h.store) === 2 && perNode(h.store).n1 === 2 &&
    h.store.view((tx) => tx.tasks.find()).every((x) => x.status?.state !== 'PENDING'));
  await h.stop();
});

test('reservations of tasks already running count against the node', async (t) => {
  const h = await start(
    [node('n1', { memory: 1 * GiB }), node('n2', { memory: 1 * GiB })],
    [task('old', 'other', 1, { nodeId: 'n1', state: 'RUNNING', memory: 800 * MiB }), task('new', 'db', 1, { memory: 500 * MiB })],
  );
  await waitFor(t, 'the assignment', () => getTask(h.store, 'new').status?.state === 'ASSIGNED');
  t.is(getTask(h.store, 'new').node_id, 'n2');
  await h.stop();
});

test('max replicas per node: no node gets more, the rest wait with the reason', async (t) => {
  const tasks = Array.from({ length: 3 }, (_, i) => task(`t${i}`, 'web', i + 1, { maxReplicas: 1 }));
  const h = await start([node('n1'), node('n2')], tasks);
  await waitFor(t, 'two assignments', () => assignedCount(h.store) === 2);
  t.deepEqual(perNode(h.store), { n1: 1, n2: 1 });
  await waitFor(t, 'the refusal', () =>
    h.store.view((tx) => tx.tasks.find()).some((x) => x.status?.err === 'no suitable node (max replicas per node reached on 2 nodes)'),
  );
  await h.stop();
});

test('host-mode ports: two tasks publishing the same port never share a node', async (t) => {
  const tasks = Array.from({ length: 3 }, (_, i) => task(`t${i}`, 'web', i + 1, { hostPorts: [80] }));
  const h = await start(
    [node('n1'), node('n2'), node('n3')],
    [...tasks, task('holder', 'other', 1, { nodeId: 'n3', state: 'RUNNING', hostPorts: [80] })],
  );
  await waitFor(t, 'two assignments', () => perNode(h.store, 'web').n1 === 1 && perNode(h.store, 'web').n2 === 1);
  await waitFor(t, 'the refusal', () =>
    h.store.view((tx) => tx.tasks.find()).some((x) => x.status?.err === 'no suitable node (host-mode port already in use on 3 nodes)'),
  );
  await h.stop();
});

test('constraints and platforms restrict the nodes', async (t) => {
  const h = await start(
    [
      node('east', { labels: { zone: 'east' } }),
      node('west', { labels: { zone: 'west' } }),
      node('arm', { labels: { zone: 'east' }, arch: 'arm64' }),
    ],
    [
      ...Array.from({ length: 4 }, (_, i) => task(`c${i}`, 'c', i + 1, { constraints: ['node.labels.zone==east'] })),
      task('p', 'p', 1, { platforms: [{ os: 'linux', architecture: 'arm64' }] }),
      task('never', 'n', 1, { constraints: ['node.labels.zone==north'] }),
    ],
  );
  await waitFor(t, 'placements', () => assignedCount(h.store) === 5);
  t.deepEqual(perNode(h.store, 'c'), { east: 2, arm: 2 });
  t.is(getTask(h.store, 'p').node_id, 'arm');
  await waitFor(t, 'the refusal', () => getTask(h.store, 'never').status?.err === 'no suitable node (scheduling constraints not satisfied on 3 nodes)');
  await h.stop();
});

test('spread counts the service tasks already on each node, then all tasks', async (t) => {
  const h = await start(
    [node('a'), node('b'), node('c')],
    [
      task('r1', 'web', 1, { nodeId: 'a', state: 'RUNNING' }),
      task('r2', 'web', 2, { nodeId: 'a', state: 'RUNNING' }),
      task('o1', 'other', 1, { nodeId: 'b', state: 'RUNNING' }),
      task('n1', 'web', 3),
      task('n2', 'web', 4),
    ],
  );
  await waitFor(t, 'assignments', () => assignedCount(h.store) === 2);
  // c has nothing, b has one task of another service: c first, then b.
  t.deepEqual(perNode(h.store, 'web'), { b: 1, c: 1 });
  await h.stop();
});

test('placement preferences spread over label values, nodes without the label forming their own group', async (t) => {
  const h = await start(
    [
      node('a1', { labels: { zone: 'a' } }),
      node('a2', { labels: { zone: 'a' } }),
      node('a3', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
      node('x1'),
    ],
    Array.from({ length: 6 }, (_, i) => task(`t${i}`, 'web', i + 1, { spread: ['node.labels.zone'] })),
  );
  await waitFor(t, 'assignments', () => assignedCount(h.store) === 6);
  const by = perNode(h.store);
  t.is((by.a1 ?? 0) + (by.a2 ?? 0) + (by.a3 ?? 0), 2, 'zone a gets a third');
  t.is(by.b1, 2, 'zone b gets a third');
  t.is(by.x1, 2, 'the unlabelled nodes get a third');
  t.true([by.a1, by.a2, by.a3].filter((n) => n === 1).length === 2, 'spread inside the zone too');
  await h.stop();
});

test('placement preferences fill other groups when one is full', async (t) => {
  const h = await start(
    [node('a1', { labels: { zone: 'a' }, memory: 1 * GiB }), node('b1', { labels: { zone: 'b' } })],
    Array.from({ length: 4 }, (_, i) => task(`t${i}`, 'web', i + 1, { spread: ['node.labels.zone'], memory: 600 * MiB })),
  );
  await waitFor(t, 'assignments', () => assignedCount(h.store) === 4);
  t.deepEqual(perNode(h.store), { a1: 1, b1: 3 });
  await h.stop();
});

test('preassigned tasks (global services) are confirmed on their node, or wait with the reason', async (t) => {
  const h = await start(
    [node('n1'), node('n2', { availability: 'DRAIN' })],
    [task('g1', 'global', 0, { nodeId: 'n1' }), task('g2', 'global', 0, { nodeId: 'n2' })],
  );
  await waitFor(t, 'g1 confirmed', () => getTask(h.store, 'g1').status?.state === 'ASSIGNED');
  t.is(getTask(h.store, 'g1').status?.message, 'scheduler confirmed task can run on preassigned node');
  await waitFor(t, 'g2 refused', () => getTask(h.store, 'g2').status?.err === 'no suitable node (1 node not available)');
  t.is(getTask(h.store, 'g2').node_id, 'n2');
  await h.store.update((tx) => {
    const n = tx.nodes.get('n2');
    if (!n?.spec) throw new Error('no node');
    n.spec.availability = 'ACTIVE';
    tx.nodes.update(n);
  });
  await waitFor(t, 'g2 confirmed', () => getTask(h.store, 'g2').status?.state === 'ASSIGNED');
  await h.stop();
});

/** A clock whose timers fire only when told to. */
class HandClock implements SchedulerClock {
  #fire: Array<() => void> = [];
  now(): number {
    return 1_700_000_000_000;
  }
  sleep(_ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const fire = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#fire = this.#fire.filter((f) => f !== fire);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#fire.push(fire);
    });
  }
  get armed(): number {
    return this.#fire.length;
  }
  fire(): void {
    for (const f of this.#fire.splice(0)) f();
  }
}

test('a decision is dropped when its task changed between the decision and the write', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  const clock = new HandClock();
  const h = await start([node('n1')], [], { store, clock });
  await waitFor(t, 'the first (empty) pass', () => true);
  await store.update((tx) => void tx.tasks.create(task('a', 'web', 1)));
  await waitFor(t, 'the debounce timer', () => clock.armed > 0);
  // Another writer changes the task and holds the store's lock while it commits.
  proposer.hold();
  const change = store.update((tx) => {
    const x = tx.tasks.get('a');
    if (!x) throw new Error('no task');
    x.desired_state = 'SHUTDOWN';
    tx.tasks.update(x);
  });
  // The scheduler decides from its picture (task still wanted) and queues its write.
  clock.fire();
  await new Promise((r) => setTimeout(r, 20));
  proposer.release();
  await change;
  await settledPasses(h, 1);
  await waitFor(t, 'the pass', () => h.passes.some((p) => p.stale === 1));
  const a = getTask(store, 'a');
  t.is(a.desired_state, 'SHUTDOWN');
  t.is(a.node_id, '', 'the stale assignment was not written');
  t.is(a.status?.state, 'PENDING');
  await h.stop();
});

test('a stale decision does not leak its reservation', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  const clock = new HandClock();
  const h = await start([node('n1', { memory: 1 * GiB })], [], { store, clock });
  await store.update((tx) => void tx.tasks.create(task('a', 'web', 1, { memory: 800 * MiB })));
  await waitFor(t, 'the debounce timer', () => clock.armed > 0);
  proposer.hold();
  const change = store.update((tx) => void tx.tasks.delete('a'));
  clock.fire();
  await new Promise((r) => setTimeout(r, 20));
  proposer.release();
  await change;
  await waitFor(t, 'the stale pass', () => h.passes.some((p) => p.stale === 1));
  // The memory the dropped decision had counted is free again.
  await store.update((tx) => void tx.tasks.create(task('b', 'web', 2, { memory: 800 * MiB })));
  await waitFor(t, 'the debounce timer', () => clock.armed > 0);
  clock.fire();
  await waitFor(t, 'b assigned', () => getTask(store, 'b').status?.state === 'ASSIGNED');
  await h.stop();
});

test('debouncing: a burst of commits gives one pass', async (t) => {
  const clock = new HandClock();
  const h = await start([node('n1'), node('n2')], [], { clock });
  for (let i = 0; i < 5; i++) await h.store.update((tx) => void tx.tasks.create(task(`t${i}`, 'web', i + 1)));
  // Let the scheduler read the last commit (it re-arms the timer on each).
  await new Promise((r) => setTimeout(r, 20));
  t.is(h.passes.length, 0);
  t.is(clock.armed, 1, 'one timer, re-armed by each commit');
  clock.fire();
  await waitFor(t, 'one pass', () => h.passes.length === 1);
  t.is(h.passes[0]?.assigned, 5);
  await h.stop();
});

test('benchSchedule places every task (small run)', async (t) => {
  const r = await benchSchedule({ nodes: 20, tasks: 2000 });
  t.is(r.tasks, 2000);
  t.true(r.elapsedMs > 0);
  t.is(r.passes.reduce((a, p) => a + p.assigned, 0), 2000);
});
