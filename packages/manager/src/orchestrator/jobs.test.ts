import test from 'ava';
import type { Service } from '@shoal/api';
import { JobsOrchestrator } from './jobs.js';
import { eventually, harness, liveTasks, node, quiesce, respec, service, setState, tasksOf } from './test-helpers.js';

test('a replicated job runs total-completions tasks, at most max-concurrent at a time, and does not restart completed ones', async (t) => {
  const h = harness();
  await h.store.update((tx) => void tx.services.create(service('j1', 'batch', { mode: 'replicated_job', replicas: 3, maxConcurrent: 2 })));
  h.start(new JobsOrchestrator(h.store, { clock: h.clock }));
  const firstTwo = (await eventually(() => (liveTasks(h.store, 'j1').length === 2 ? liveTasks(h.store, 'j1') : undefined))) ?? [];
  t.true(firstTwo.every((x) => x.desired_state === 'COMPLETE'), 'job tasks are desired COMPLETE');
  await quiesce();
  t.is(tasksOf(h.store, 'j1').length, 2, 'max-concurrent holds');
  const status = h.store.view((tx) => tx.services.get('j1')?.job_status);
  t.is(status?.job_iteration?.index, h.store.view((tx) => tx.services.get('j1')?.spec_version?.index));
  for (const x of firstTwo) await setState(h, x.id, 'COMPLETE', 'n1');
  const all = await eventually(() => (tasksOf(h.store, 'j1').length === 3 ? tasksOf(h.store, 'j1') : undefined));
  t.deepEqual((all ?? []).map((x) => Number(x.slot)).sort(), [1, 2, 3], 'one slot per completion');
  const last = (all ?? []).find((x) => !firstTwo.some((f) => f.id === x.id));
  if (!last) return t.fail('no third task');
  await setState(h, last.id, 'COMPLETE', 'n1');
  await quiesce();
  t.is(tasksOf(h.store, 'j1').length, 3, 'nothing more once every completion is in');
  await h.stop();
});

test('a failed job task is restarted in its slot', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('j1', 'batch', { mode: 'replicated_job', replicas: 1, restart: { condition: 'ON_FAILURE', delayMs: 0 } }));
  });
  h.start(new JobsOrchestrator(h.store, { clock: h.clock }));
  const first = await eventually(() => liveTasks(h.store, 'j1')[0]);
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'FAILED', 'n1');
  const second = await eventually(() => liveTasks(h.store, 'j1').find((x) => x.id !== first.id));
  t.is(second?.slot, first.slot);
  t.is(second?.desired_state, 'COMPLETE');
  await h.stop();
});

test('a job whose restarts are used up does not run again in that slot', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('j1', 'batch', { mode: 'replicated_job', replicas: 1, restart: { condition: 'NONE' } }));
  });
  h.start(new JobsOrchestrator(h.store, { clock: h.clock }));
  const first = await eventually(() => liveTasks(h.store, 'j1')[0]);
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'FAILED', 'n1');
  await quiesce();
  t.is(tasksOf(h.store, 'j1').length, 1);
  await h.stop();
});

test('a global job runs once on each node present when it started, not on later ones; a spec change runs it again', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.nodes.create(node('n2'));
  });
  await h.clock.advance(1_000);
  await h.store.update((tx) => void tx.services.create(service('j1', 'migrate', { mode: 'global_job' })));
  h.start(new JobsOrchestrator(h.store, { clock: h.clock }));
  const tasks = (await eventually(() => (liveTasks(h.store, 'j1').length === 2 ? liveTasks(h.store, 'j1') : undefined))) ?? [];
  t.deepEqual(tasks.map((x) => x.node_id).sort(), ['n1', 'n2']);
  for (const x of tasks) await setState(h, x.id, 'COMPLETE');
  await h.clock.advance(1_000);
  await h.store.update((tx) => void tx.nodes.create(node('n3')));
  await quiesce();
  t.is(tasksOf(h.store, 'j1').length, 2, 'completed tasks are not restarted and the late node gets none');
  await h.store.update((tx) => {
    const s = tx.services.get('j1') as Service;
    tx.services.update(respec(s, (spec) => void (spec.task = { ...spec.task, force_update: 1 })));
  });
  const rerun = await eventually(() => {
    const fresh = liveTasks(h.store, 'j1').filter((x) => !tasks.some((o) => o.id === x.id));
    return fresh.length === 3 ? fresh : undefined;
  });
  t.deepEqual((rerun ?? []).map((x) => x.node_id).sort(), ['n1', 'n2', 'n3'], 'the new run covers every node present now');
  await h.stop();
});
