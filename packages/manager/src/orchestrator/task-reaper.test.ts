import test from 'ava';
import type { Task } from '@shoal/api';
import { byService } from '../store/index.js';
import { TaskReaper, taskHistoryLimit } from './task-reaper.js';
import { eventually, harness, node, quiesce, service, tasksOf } from './test-helpers.js';
import { toTimestamp } from './task.js';

function task(id: string, slot: number, at: number, state: Task['desired_state'], observed: string, nodeId = 'n1'): Task {
  return {
    id,
    service_id: 's1',
    slot,
    node_id: nodeId,
    desired_state: state,
    status: { state: observed as Task['desired_state'], timestamp: toTimestamp(at) },
  };
}

test('a slot keeps at most the cluster’s history limit of tasks: the oldest stopped ones go, the running one stays', async (t) => {
  const h = harness();
  const base = h.clock.now();
  await h.store.update((tx) => {
    tx.clusters.create({ id: 'c1', spec: { annotations: { name: 'default' }, orchestration: { task_history_retention_limit: 3 } } });
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 2 }));
    // The running task is the oldest, to show it is never reaped.
    tx.tasks.create(task('run', 1, base, 'RUNNING', 'RUNNING'));
    for (let i = 1; i <= 5; i++) tx.tasks.create(task(`old${i}`, 1, base + i * 1000, 'SHUTDOWN', 'FAILED'));
    tx.tasks.create(task('other', 2, base, 'SHUTDOWN', 'FAILED'));
  });
  h.start(new TaskReaper(h.store));
  const kept = await eventually(() => {
    const ids = tasksOf(h.store, 's1').filter((x) => x.slot === '1').map((x) => x.id).sort();
    return ids.length === 3 ? ids : undefined;
  });
  t.deepEqual(kept, ['old4', 'old5', 'run']);
  t.truthy(tasksOf(h.store, 's1').find((x) => x.id === 'other'), 'other slots keep their own history');
  await h.stop();
});

test('without a cluster (or orchestration config) the limit is 5', (t) => {
  t.is(taskHistoryLimit(undefined), 5);
  t.is(taskHistoryLimit({ id: 'c', spec: { orchestration: null } } as never), 5);
  t.is(taskHistoryLimit({ id: 'c', spec: { orchestration: { task_history_retention_limit: '0' } } } as never), 0);
});

test('new tasks in a slot trigger reaping as they arrive', async (t) => {
  const h = harness();
  const base = h.clock.now();
  await h.store.update((tx) => {
    tx.services.create(service('s1', 'web', { replicas: 1 }));
    for (let i = 1; i <= 5; i++) tx.tasks.create(task(`old${i}`, 1, base + i, 'SHUTDOWN', 'FAILED'));
  });
  h.start(new TaskReaper(h.store));
  await quiesce();
  t.is(tasksOf(h.store, 's1').length, 5, 'at the default limit nothing goes');
  await h.store.update((tx) => void tx.tasks.create(task('new', 1, base + 100, 'RUNNING', 'NEW')));
  t.truthy(await eventually(() => tasksOf(h.store, 's1').length === 5 && !tasksOf(h.store, 's1').some((x) => x.id === 'old1')));
  await h.stop();
});

test('tasks marked REMOVE are deleted once stopped, or at once if they never reached a node', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('s1', 'web', { replicas: 1 }));
    tx.tasks.create(task('running', 1, 0, 'REMOVE', 'RUNNING'));
    tx.tasks.create(task('pending', 2, 0, 'REMOVE', 'PENDING', ''));
  });
  h.start(new TaskReaper(h.store));
  t.truthy(await eventually(() => !tasksOf(h.store, 's1').some((x) => x.id === 'pending')));
  t.truthy(tasksOf(h.store, 's1').find((x) => x.id === 'running'), 'still running: kept until it stops');
  await h.store.update((tx) => {
    const r = tx.tasks.get('running');
    if (r) tx.tasks.update({ ...r, status: { ...r.status, state: 'SHUTDOWN' } });
  });
  t.truthy(await eventually(() => h.store.view((tx) => tx.tasks.find(byService('s1')).length === 0)));
  await h.stop();
});
