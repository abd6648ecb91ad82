import test from 'ava';
import type { TaskStatus__Output } from '@shoal/api';
import { taskStatus } from '../exec/task-state.js';
import { StatusBatcher, type TaskStatusUpdate } from './reporter.js';

const st = (s: TaskStatus__Output['state']): TaskStatus__Output => taskStatus(s);

test('updates wait for a sink, keep only each task\'s newest status, and go in one batch', async (t) => {
  const b = new StatusBatcher({ lingerMs: 1 });
  b.report('a', st('ACCEPTED'));
  b.report('a', st('PREPARING'));
  b.report('b', st('ACCEPTED'));
  const batches: TaskStatusUpdate[][] = [];
  b.attach(async (u) => void batches.push(u), new AbortController().signal);
  await b.flush();
  t.is(batches.length, 1);
  t.deepEqual(batches[0]?.map((u) => [u.task_id, u.status.state]), [['a', 'PREPARING'], ['b', 'ACCEPTED']]);
  t.is(b.size, 0);
});

test('a failed send keeps the updates for the next sink and detaches the broken one', async (t) => {
  const b = new StatusBatcher({ lingerMs: 1 });
  b.report('a', st('RUNNING'));
  b.attach(async () => {
    throw new Error('stream broken');
  }, new AbortController().signal);
  await b.flush();
  t.is(b.size, 1);
  const got: string[] = [];
  b.attach(async (u) => void got.push(...u.map((x) => x.status.state)), new AbortController().signal);
  await b.flush();
  t.deepEqual(got, ['RUNNING']);
});

test('batches are cut at maxBatch', async (t) => {
  const b = new StatusBatcher({ lingerMs: 1, maxBatch: 2 });
  for (const id of ['a', 'b', 'c', 'd', 'e']) b.report(id, st('RUNNING'));
  const sizes: number[] = [];
  b.attach(async (u) => void sizes.push(u.length), new AbortController().signal);
  await b.flush();
  t.deepEqual(sizes, [2, 2, 1]);
});
