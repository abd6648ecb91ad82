import test from 'ava';
import { failedPrecondition, notFound, type TaskState__Output, type TaskStatus__Output } from '@shoal/api';
import { canProceed, step } from './step.js';
import { taskStatus } from './task-state.js';
import { temporaryError } from './errors.js';
import { FakeExecutor, type FakeBehavior } from '../fake-executor/fake-executor.js';
import { makeTask } from '../fake-executor/make-task.js';

const live = (): AbortSignal => new AbortController().signal;
const now = (): Date => new Date(1_700_000_000_000);

async function once(state: TaskState__Output, desired: TaskState__Output, b: FakeBehavior = {}, ex = new FakeExecutor({ behavior: () => b })) {
  const task = makeTask({ id: 't1', image: 'busybox', state, desired });
  const ctl = ex.controller(task);
  const before = taskStatus(state);
  const after = await step(ctl, task, before, live(), { now });
  return { ex, ctl, task, before, after };
}

test('ASSIGNED moves to ACCEPTED without touching the executor', async (t) => {
  const { after, ex } = await once('ASSIGNED', 'RUNNING');
  t.is(after.state, 'ACCEPTED');
  t.is(after.message, 'accepted');
  t.deepEqual(after.timestamp, { seconds: '1700000000', nanos: 0 });
  t.deepEqual(ex.calls, []);
});

test('ACCEPTED moves to PREPARING, then PREPARING prepares and moves to READY', async (t) => {
  const ex = new FakeExecutor();
  t.is((await once('ACCEPTED', 'RUNNING', {}, ex)).after.state, 'PREPARING');
  const r = await once('PREPARING', 'RUNNING', {}, ex);
  t.is(r.after.state, 'READY');
  t.is(ex.containers.get('t1')?.state, 'created');
});

test('an already prepared task still moves to READY (after an agent restart)', async (t) => {
  const ex = new FakeExecutor();
  await once('PREPARING', 'RUNNING', {}, ex);
  const r = await once('PREPARING', 'RUNNING', {}, ex);
  t.is(r.after.state, 'READY');
  t.is(r.after.err, '');
});

test('READY moves to STARTING; STARTING starts and moves to RUNNING with the container status', async (t) => {
  const ex = new FakeExecutor();
  await once('PREPARING', 'RUNNING', {}, ex);
  t.is((await once('READY', 'RUNNING', {}, ex)).after.state, 'STARTING');
  const r = await once('STARTING', 'RUNNING', {}, ex);
  t.is(r.after.state, 'RUNNING');
  t.is(r.after.message, 'started');
  t.is(r.after.container_status?.container_id, 'fake-t1');
  t.true((r.after.container_status?.pid ?? 0) > 0);
});

test('RUNNING waits: exit 0 is COMPLETE, non-zero is FAILED with the exit code', async (t) => {
  for (const [code, state] of [[0, 'COMPLETE'], [3, 'FAILED']] as const) {
    const ex = new FakeExecutor({ behavior: () => ({ runMs: 5, exitCode: code }) });
    await once('PREPARING', 'RUNNING', {}, ex);
    await once('STARTING', 'RUNNING', {}, ex);
    const r = await once('RUNNING', 'RUNNING', {}, ex);
    t.is(r.after.state, state);
    t.is(r.after.container_status?.exit_code, code);
    if (code !== 0) t.is(r.after.err, 'task: non-zero exit (3)');
    ex.close();
  }
});

test('a prepare error rejects the task with the error', async (t) => {
  const r = await once('PREPARING', 'RUNNING', { prepareError: notFound('No such image: nope:latest') });
  t.is(r.after.state, 'REJECTED');
  t.is(r.after.err, 'No such image: nope:latest');
});

test('an error before ACCEPTED rejects the task', async (t) => {
  const ex = new FakeExecutor();
  const task = makeTask({ id: 't1', image: 'x', desired: 'SHUTDOWN' });
  const ctl = { ...ex.controller(task), shutdown: () => Promise.reject(failedPrecondition('cannot stop')) };
  const after = await step(ctl, task, taskStatus('ASSIGNED'), live(), { now });
  t.is(after.state, 'REJECTED');
  t.is(after.err, 'cannot stop');
});

test('a start error fails the task', async (t) => {
  const ex = new FakeExecutor({ behavior: () => ({ startError: new Error('runc: exec format error') }) });
  await once('PREPARING', 'RUNNING', {}, ex);
  const r = await once('STARTING', 'RUNNING', {}, ex);
  t.is(r.after.state, 'FAILED');
  t.is(r.after.err, 'runc: exec format error');
});

test('desired SHUTDOWN shuts the container down and moves to SHUTDOWN', async (t) => {
  const ex = new FakeExecutor();
  await once('PREPARING', 'RUNNING', {}, ex);
  await once('STARTING', 'RUNNING', {}, ex);
  const r = await once('RUNNING', 'SHUTDOWN', {}, ex);
  t.is(r.after.state, 'SHUTDOWN');
  t.is(ex.containers.get('t1')?.state, 'exited');
});

test('a terminal task stays where it is, whatever the desired state', async (t) => {
  for (const state of ['COMPLETE', 'FAILED', 'SHUTDOWN', 'REJECTED'] as const) {
    for (const desired of ['RUNNING', 'SHUTDOWN'] as const) {
      const r = await once(state, desired);
      t.is(r.after, r.before, `${state} desired ${desired}`);
      t.false(canProceed(r.task, r.before));
    }
  }
});

test('a task pauses at its desired state (READY) and never moves backwards', async (t) => {
  const r = await once('READY', 'READY');
  t.is(r.after, r.before);
  t.false(canProceed(r.task, r.before));
  const past = await once('RUNNING', 'READY');
  t.is(past.after, past.before);
});

test('an aborted signal is a retry: the status is unchanged and nothing fails', async (t) => {
  const ex = new FakeExecutor({ behavior: () => ({ delayMs: 1000 }) });
  const task = makeTask({ id: 't1', image: 'x', state: 'PREPARING' });
  const ac = new AbortController();
  const before = taskStatus('PREPARING');
  const p = step(ex.controller(task), task, before, ac.signal, { now });
  ac.abort(new Error('task updated'));
  const after = await p;
  t.is(after, before);
  t.true(canProceed(task, before));
});

test('a temporary error is a retry', async (t) => {
  const r = await once('PREPARING', 'RUNNING', { prepareError: temporaryError('engine busy') });
  t.is(r.after, r.before);
});

test('canProceed: working states proceed, pause states only below the desired state', (t) => {
  const s = (state: TaskState__Output): TaskStatus__Output => taskStatus(state);
  const task = (desired: TaskState__Output) => makeTask({ id: 't', desired });
  t.true(canProceed(task('RUNNING'), s('ASSIGNED')));
  t.true(canProceed(task('RUNNING'), s('RUNNING')));
  t.true(canProceed(task('COMPLETE'), s('RUNNING')));
  t.false(canProceed(task('ACCEPTED'), s('ACCEPTED')));
  t.true(canProceed(task('SHUTDOWN'), s('READY')));
  t.true(canProceed(task('REMOVE'), s('RUNNING')));
});
