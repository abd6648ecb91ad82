import test from 'ava';
import type { TaskState__Output, Task__Output } from '@shoal/api';
import { ReplicatedOrchestrator } from './replicated.js';
import { RestartSupervisor } from './restart-supervisor.js';
import type { Harness, ServiceOptions } from './test-helpers.js';
import { eventually, harness, liveTasks, node, quiesce, service, setState } from './test-helpers.js';

/** A one-replica service on n1 whose task is RUNNING. */
async function running(o: ServiceOptions): Promise<{ h: Harness; task: Task__Output }> {
  const h = harness();
  const restarts = new RestartSupervisor(h.store, { clock: h.clock });
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 1, ...o }));
  });
  h.start(restarts);
  h.start(new ReplicatedOrchestrator(h.store, { clock: h.clock, restarts }));
  const task = (await eventually(() => liveTasks(h.store, 's1')[0])) as Task__Output;
  await setState(h, task.id, 'RUNNING', 'n1');
  return { h, task };
}

/** The task stops in `state`; returns its replacement, if one appears. */
async function stop(h: Harness, task: Task__Output, state: TaskState__Output): Promise<Task__Output | undefined> {
  await setState(h, task.id, state);
  await quiesce();
  return liveTasks(h.store, 's1').find((x) => x.id !== task.id);
}

for (const [condition, state, replaced] of [
  ['NONE', 'FAILED', false],
  ['ON_FAILURE', 'COMPLETE', false],
  ['ON_FAILURE', 'FAILED', true],
  ['ON_FAILURE', 'REJECTED', true],
  ['ANY', 'COMPLETE', true],
  ['ANY', 'FAILED', true],
] as const) {
  test(`restart condition ${condition}: a task that ends ${state} is ${replaced ? '' : 'not '}replaced`, async (t) => {
    const { h, task } = await running({ restart: { condition, delayMs: 0 } });
    const next = await stop(h, task, state);
    t.is(!!next, replaced);
    if (next) t.is(next.slot, task.slot, 'in the same slot');
    await h.stop();
  });
}

test('the replacement is held at desired READY for the restart delay, then released', async (t) => {
  const { h, task } = await running({ restart: { delayMs: 10_000 } });
  const next = await stop(h, task, 'FAILED');
  t.is(next?.desired_state, 'READY');
  await h.clock.advance(9_000);
  await quiesce();
  t.is(liveTasks(h.store, 's1').find((x) => x.id === next?.id)?.desired_state, 'READY', 'not before the delay');
  await h.clock.advance(1_000);
  t.truthy(await eventually(() => liveTasks(h.store, 's1').find((x) => x.id === next?.id && x.desired_state === 'RUNNING')));
  await h.stop();
});

test('with no restart policy the delay is Docker’s default of 5 s', async (t) => {
  const { h, task } = await running({});
  const next = await stop(h, task, 'FAILED');
  t.is(next?.desired_state, 'READY');
  await h.clock.advance(5_000);
  t.truthy(await eventually(() => liveTasks(h.store, 's1').find((x) => x.id === next?.id && x.desired_state === 'RUNNING')));
  await h.stop();
});

test('max attempts: a slot is restarted that many times, then left stopped', async (t) => {
  const { h, task } = await running({ restart: { delayMs: 0, maxAttempts: 2 } });
  let current = task;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const next = await stop(h, current, 'FAILED');
    t.truthy(next, `attempt ${attempt} is made`);
    if (!next) return;
    await setState(h, next.id, 'RUNNING', 'n1');
    current = next;
  }
  t.is(await stop(h, current, 'FAILED'), undefined, 'the third failure is not restarted');
  await h.stop();
});

test('max attempts within a window: only restarts inside the window count', async (t) => {
  const { h, task } = await running({ restart: { delayMs: 0, maxAttempts: 1, windowMs: 10_000 } });
  const second = await stop(h, task, 'FAILED');
  t.truthy(second, 'the first failure is restarted');
  if (!second) return;
  await setState(h, second.id, 'RUNNING', 'n1');
  await h.clock.advance(20_000);
  const third = await stop(h, second, 'FAILED');
  t.truthy(third, 'the earlier restart fell out of the window');
  if (!third) return;
  await setState(h, third.id, 'RUNNING', 'n1');
  await h.clock.advance(1_000);
  t.is(await stop(h, third, 'FAILED'), undefined, 'a second failure inside the window is not restarted');
  await h.stop();
});

test('a replacement that fails during its own delay is restarted only after that delay', async (t) => {
  const { h, task } = await running({ restart: { delayMs: 10_000 } });
  const next = await stop(h, task, 'FAILED');
  if (!next) return t.fail('no replacement');
  await setState(h, next.id, 'REJECTED');
  await quiesce();
  t.is(liveTasks(h.store, 's1').filter((x) => x.id !== task.id && x.id !== next.id).length, 0, 'no tight loop');
  await h.clock.advance(10_000);
  t.truthy(await eventually(() => liveTasks(h.store, 's1').find((x) => x.id !== task.id && x.id !== next.id)));
  await h.stop();
});
