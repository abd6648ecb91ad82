import test from 'ava';
import type { Service } from '@shoal/api';
import { ReplicatedOrchestrator } from './replicated.js';
import { RestartSupervisor } from './restart-supervisor.js';
import { eventually, harness, liveTasks, node, quiesce, respec, service, setState, tasksOf, updateNode } from './test-helpers.js';

const slots = (ts: Array<{ slot: string }>): number[] => ts.map((t) => Number(t.slot)).sort((a, b) => a - b);

test('a replicated service gets one NEW task per slot 1..N, desired RUNNING', async (t) => {
  const h = harness();
  await h.store.update((tx) => void tx.services.create(service('s1', 'web', { replicas: 3 })));
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  const tasks = await eventually(() => (liveTasks(h.store, 's1').length === 3 ? liveTasks(h.store, 's1') : undefined));
  t.deepEqual(slots(tasks ?? []), [1, 2, 3]);
  for (const task of tasks ?? []) {
    t.is(task.status?.state, 'NEW');
    t.is(task.desired_state, 'RUNNING');
    t.is(task.service_annotations?.name, 'web');
    t.is(task.spec?.container?.image, 'busybox:latest');
  }
  await h.stop();
});

test('scaling up fills the lowest free slots; scaling down removes surplus from the busiest node first', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.nodes.create(node('n2'));
    tx.services.create(service('s1', 'web', { replicas: 2 }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  await eventually(() => liveTasks(h.store, 's1').length === 2);
  const scale = async (n: number): Promise<void> =>
    h.store.update((tx) => {
      const s = tx.services.get('s1') as Service;
      tx.services.update(respec(s, (spec) => void (spec.replicated = { replicas: n })));
    });
  await scale(4);
  const four = await eventually(() => (liveTasks(h.store, 's1').length === 4 ? liveTasks(h.store, 's1') : undefined));
  t.deepEqual(slots(four ?? []), [1, 2, 3, 4]);
  // Slots 1-3 run on n1, slot 4 on n2.
  for (const task of four ?? []) await setState(h, task.id, 'RUNNING', task.slot === '4' ? 'n2' : 'n1');
  await scale(2);
  await eventually(() => liveTasks(h.store, 's1').length === 2);
  t.deepEqual(slots(liveTasks(h.store, 's1')), [1, 4], 'n1 held three copies: two of them go, the highest slots');
  const removed = tasksOf(h.store, 's1').filter((x) => x.desired_state === 'REMOVE');
  t.deepEqual(slots(removed), [2, 3]);
  t.true(removed.every((x) => x.node_id === 'n1'));
  await h.stop();
});

test('a spec change replaces each dirty task in its slot: stop the old one first, then start the new one', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 2 }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  const first = (await eventually(() => (liveTasks(h.store, 's1').length === 2 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  for (const task of first) await setState(h, task.id, 'RUNNING', 'n1');
  await h.store.update((tx) => {
    const s = tx.services.get('s1') as Service;
    tx.services.update(respec(s, (spec) => void (spec.task = { ...spec.task, container: { image: 'nginx:1' } })));
  });
  const fresh = await eventually(() => {
    const live = liveTasks(h.store, 's1');
    return live.length === 2 && live.every((x) => x.spec?.container?.image === 'nginx:1') ? live : undefined;
  });
  t.deepEqual(slots(fresh ?? []), [1, 2], 'the new tasks take the old slots');
  t.true((fresh ?? []).every((x) => x.desired_state === 'READY'), 'held until the old task stops');
  for (const old of first) t.is(tasksOf(h.store, 's1').find((x) => x.id === old.id)?.desired_state, 'SHUTDOWN');
  // The agent stops the old tasks; the new ones are released.
  for (const old of first) await setState(h, old.id, 'SHUTDOWN');
  t.truthy(await eventually(() => liveTasks(h.store, 's1').every((x) => x.desired_state === 'RUNNING')));
  await h.stop();
});

test('a scale-only change replaces nothing', async (t) => {
  const h = harness();
  await h.store.update((tx) => void tx.services.create(service('s1', 'web', { replicas: 1 })));
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  const [only] = (await eventually(() => (liveTasks(h.store, 's1').length === 1 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  await h.store.update((tx) => {
    const s = tx.services.get('s1') as Service;
    tx.services.update(respec(s, (spec) => void (spec.replicated = { replicas: 2 })));
  });
  await eventually(() => liveTasks(h.store, 's1').length === 2);
  t.truthy(liveTasks(h.store, 's1').find((x) => x.id === only?.id), 'the first task is kept');
  await h.stop();
});

test('removing a service gives all its tasks desired state REMOVE', async (t) => {
  const h = harness();
  await h.store.update((tx) => void tx.services.create(service('s1', 'web', { replicas: 3 })));
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  await eventually(() => liveTasks(h.store, 's1').length === 3);
  await h.store.update((tx) => tx.services.delete('s1'));
  t.truthy(await eventually(() => tasksOf(h.store, 's1').every((x) => x.desired_state === 'REMOVE')));
  await h.stop();
});

test('a task on a node that goes DOWN is replaced at once, without the restart delay, and orphaned after the grace', async (t) => {
  const h = harness();
  const restarts = new RestartSupervisor(h.store, { clock: h.clock, orphanGraceMs: 60_000 });
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.nodes.create(node('n2'));
    tx.services.create(service('s1', 'web', { replicas: 1, restart: { delayMs: 30_000 } }));
  });
  h.start(restarts);
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock, restarts }));
  const [first] = (await eventually(() => (liveTasks(h.store, 's1').length === 1 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'RUNNING', 'n1');
  await updateNode(h.store, 'n1', (n) => void (n.status = { state: 'DOWN' }));
  const next = await eventually(() => liveTasks(h.store, 's1').find((x) => x.id !== first.id));
  t.truthy(next, 'replaced with no clock movement');
  t.is(next?.desired_state, 'RUNNING', 'not held back by the 30 s delay');
  t.is(next?.slot, '1');
  const old = () => tasksOf(h.store, 's1').find((x) => x.id === first.id);
  t.is(old()?.desired_state, 'SHUTDOWN');
  t.is(old()?.status?.state, 'RUNNING', 'nothing is known of it yet');
  await h.clock.advance(60_000);
  t.is(await eventually(() => (old()?.status?.state === 'ORPHANED' ? 'ORPHANED' : undefined)), 'ORPHANED');
  await h.stop();
});

test('draining a node moves its tasks: the replacement starts once the old task stopped', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 1 }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  const [first] = (await eventually(() => (liveTasks(h.store, 's1').length === 1 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'RUNNING', 'n1');
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, availability: 'DRAIN' }));
  const next = await eventually(() => liveTasks(h.store, 's1').find((x) => x.id !== first.id));
  t.is(next?.desired_state, 'READY');
  await setState(h, first.id, 'SHUTDOWN');
  t.truthy(await eventually(() => liveTasks(h.store, 's1').find((x) => x.id === next?.id && x.desired_state === 'RUNNING')));
  await quiesce();
  t.is(liveTasks(h.store, 's1').length, 1);
  await h.stop();
});

test('an orchestrator started on a store with stopped tasks (a new leader) restarts them', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 1, restart: { delayMs: 0 } }));
  });
  const first = new AbortController();
  const orch = new ReplicatedOrchestrator(h.store, { clock: h.clock });
  const run = orch.run(first.signal);
  const [task] = (await eventually(() => (liveTasks(h.store, 's1').length === 1 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  first.abort();
  await run;
  if (!task) return t.fail('no task');
  await setState(h, task.id, 'FAILED', 'n1');
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  t.truthy(await eventually(() => liveTasks(h.store, 's1').find((x) => x.id !== task.id)));
  await h.stop();
});
