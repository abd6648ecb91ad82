import test from 'ava';
import { ConstraintEnforcer } from './constraint-enforcer.js';
import { ReplicatedOrchestrator } from './replicated.js';
import { eventually, harness, liveTasks, node, quiesce, service, setState, tasksOf, updateNode } from './test-helpers.js';

test('a node losing the label a task is constrained to gets that task rejected, and the orchestrator replaces it', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1', { labels: { zone: 'a' } }));
    tx.services.create(service('s1', 'web', { replicas: 1, constraints: ['node.labels.zone==a'], restart: { delayMs: 0 } }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  h.start(new ConstraintEnforcer(h.store, { clock: h.clock }));
  const first = await eventually(() => liveTasks(h.store, 's1')[0]);
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'RUNNING', 'n1');
  await quiesce();
  t.is(tasksOf(h.store, 's1').find((x) => x.id === first.id)?.status?.state, 'RUNNING', 'a compliant task is left alone');
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, annotations: { name: '', labels: { zone: 'b' } } }));
  const rejected = await eventually(() =>
    tasksOf(h.store, 's1').find((x) => x.id === first.id && x.status?.state === 'REJECTED' && x.desired_state === 'SHUTDOWN'),
  );
  t.is(rejected?.status?.err, 'assigned node no longer meets constraints');
  t.truthy(rejected, 'rejected, then shut down by the orchestrator');
  const next = await eventually(() => liveTasks(h.store, 's1').find((x) => x.id !== first.id));
  t.is(next?.node_id, '', 'the replacement waits for the scheduler to place it');
  await h.stop();
});

test('a node whose memory shrank below the reservations rejects the newest tasks that no longer fit', async (t) => {
  const h = harness();
  const gib = 1024 ** 3;
  await h.store.update((tx) => {
    tx.nodes.create(node('n1', { memory: 4 * gib }));
    tx.services.create(service('s1', 'web', { replicas: 2, memory: gib }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  const tasks = (await eventually(() => (liveTasks(h.store, 's1').length === 2 ? liveTasks(h.store, 's1') : undefined))) ?? [];
  for (const x of tasks) {
    await setState(h, x.id, 'RUNNING', 'n1');
    await h.clock.advance(1000);
  }
  h.start(new ConstraintEnforcer(h.store, { clock: h.clock }));
  await updateNode(h.store, 'n1', (n) => void (n.description = { ...n.description, resources: { memory_bytes: 1.5 * gib, nano_cpus: 4e9 } }));
  t.truthy(await eventually(() => tasksOf(h.store, 's1').some((x) => x.status?.state === 'REJECTED')));
  const states = tasks.map((x) => tasksOf(h.store, 's1').find((y) => y.id === x.id)?.status?.state);
  t.is(states.filter((s) => s === 'REJECTED').length, 1, 'one still fits');
  await h.stop();
});

test('tasks on a paused node are left alone', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1', { labels: { zone: 'a' } }));
    tx.services.create(service('s1', 'web', { replicas: 1, constraints: ['node.labels.zone==a'] }));
  });
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock }));
  h.start(new ConstraintEnforcer(h.store, { clock: h.clock }));
  const first = await eventually(() => liveTasks(h.store, 's1')[0]);
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'RUNNING', 'n1');
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, availability: 'PAUSE', annotations: { name: '', labels: {} } }));
  await quiesce();
  t.is(tasksOf(h.store, 's1').find((x) => x.id === first.id)?.status?.state, 'RUNNING');
  await h.stop();
});
