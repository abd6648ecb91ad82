import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskState__Output, TaskStatus__Output } from '@shoal/api';
import { FakeExecutor, type FakeBehavior } from '../fake-executor/fake-executor.js';
import { makeTask } from '../fake-executor/make-task.js';
import type { StatusReporter } from './reporter.js';
import { Worker } from './worker.js';

class Recorder implements StatusReporter {
  readonly seen: { id: string; status: TaskStatus__Output }[] = [];
  report(id: string, status: TaskStatus__Output): void {
    this.seen.push({ id, status });
  }
  states(id: string): TaskState__Output[] {
    return this.seen.filter((s) => s.id === id).map((s) => s.status.state);
  }
  last(id: string): TaskStatus__Output | undefined {
    return this.seen.filter((s) => s.id === id).at(-1)?.status;
  }
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(t: { teardown: (fn: () => Promise<void>) => void }, behavior?: (id: string) => FakeBehavior) {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-worker-'));
  const ex = new FakeExecutor(behavior ? { behavior: (task) => behavior(task.id) } : {});
  const rec = new Recorder();
  const make = () => new Worker({ executor: ex, reporter: rec, dataDir: dir, retryMs: 5, maxRetryMs: 20 });
  const w = make();
  await w.open();
  t.teardown(async () => {
    await w.close();
    ex.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, ex, rec, w, make };
}

const signal = new AbortController().signal;

test('assigned tasks move forward one state at a time to RUNNING, each change reported', async (t) => {
  const { ex, rec, w } = await setup(t);
  await w.assign([makeTask({ id: 'a', image: 'x' }), makeTask({ id: 'b', image: 'x', slot: 2 })], signal);
  await until('both running', () => rec.last('a')?.state === 'RUNNING' && rec.last('b')?.state === 'RUNNING');
  t.deepEqual(rec.states('a'), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING']);
  t.is(ex.containers.get('a')?.state, 'running');
  t.is(ex.containers.get('b')?.name, 'web.2.b');
});

test('a changed desired state interrupts a waiting task and shuts it down', async (t) => {
  const { ex, rec, w } = await setup(t);
  const task = makeTask({ id: 'a', image: 'x' });
  await w.assign([task], signal);
  await until('running', () => rec.last('a')?.state === 'RUNNING');
  await w.update({ updated: [{ ...task, desired_state: 'SHUTDOWN' }], removed: [] });
  await until('shutdown', () => rec.last('a')?.state === 'SHUTDOWN');
  t.is(ex.containers.get('a')?.state, 'exited');
  t.false(rec.states('a').includes('FAILED'));
});

test('a job task runs to COMPLETE; a failing one is FAILED with its exit code', async (t) => {
  const { rec, w } = await setup(t, (id) => ({ runMs: 10, exitCode: id === 'bad' ? 2 : 0 }));
  await w.assign([makeTask({ id: 'ok', image: 'x', desired: 'COMPLETE' }), makeTask({ id: 'bad', image: 'x' })], signal);
  await until('done', () => rec.last('ok')?.state === 'COMPLETE' && rec.last('bad')?.state === 'FAILED');
  t.is(rec.last('bad')?.err, 'task: non-zero exit (2)');
  t.is(rec.last('bad')?.container_status?.exit_code, 2);
});

test('a task missing from a complete set, or removed incrementally, loses its container and is forgotten', async (t) => {
  const { dir, ex, rec, w } = await setup(t);
  await w.assign([makeTask({ id: 'a', image: 'x' }), makeTask({ id: 'b', image: 'x' }), makeTask({ id: 'c', image: 'x' })], signal);
  await until('running', () => ['a', 'b', 'c'].every((id) => rec.last(id)?.state === 'RUNNING'));
  await w.assign([makeTask({ id: 'b', image: 'x' }), makeTask({ id: 'c', image: 'x' })], signal);
  await w.update({ updated: [], removed: ['c'] });
  await until('removed', () => !ex.containers.has('a') && !ex.containers.has('c'));
  t.deepEqual(w.tasks().map((x) => x.task.id), ['b']);
  await w.close();
  const file = JSON.parse(await readFile(join(dir, 'tasks.json'), 'utf8')) as { tasks: { task: { id: string } }[] };
  t.deepEqual(file.tasks.map((x) => x.task.id), ['b']);
});

test('after a restart the worker re-adopts its running containers without re-creating them', async (t) => {
  const { ex, rec, w, make } = await setup(t);
  await w.assign([makeTask({ id: 'a', image: 'x' })], signal);
  await until('running', () => rec.last('a')?.state === 'RUNNING');
  await w.close();
  t.is(ex.containers.get('a')?.state, 'running', 'closing the worker leaves containers running');
  const calls = ex.calls.length;

  const w2 = make();
  await w2.open();
  t.teardown(() => w2.close());
  t.is(w2.status('a')?.state, 'RUNNING');
  await w2.assign([makeTask({ id: 'a', image: 'x' })], signal);
  await until('waiting again', () => ex.calls.slice(calls).some((c) => c.method === 'wait'));
  t.false(ex.calls.slice(calls).some((c) => c.method === 'prepare' || c.method === 'start'));
  t.is(ex.containers.get('a')?.starts, 1);
  ex.exit('a', 0);
  await until('complete', () => rec.last('a')?.state === 'COMPLETE');
});

test('the first complete set removes containers of tasks nobody knows', async (t) => {
  const { ex, w } = await setup(t);
  ex.containers.set('ghost', { id: 'g', taskId: 'ghost', name: 'x.1.ghost', state: 'running', exitCode: 0, pid: 1, starts: 1 });
  await w.assign([], signal);
  await until('ghost removed', () => !ex.containers.has('ghost'));
  t.pass();
});

test('a task that fails to prepare is REJECTED and stays so', async (t) => {
  const { ex, rec, w } = await setup(t, () => ({ prepareError: new Error('No such image: nope:latest') }));
  await w.assign([makeTask({ id: 'a', image: 'nope' })], signal);
  await until('rejected', () => rec.last('a')?.state === 'REJECTED');
  t.is(rec.last('a')?.err, 'No such image: nope:latest');
  await new Promise((r) => setTimeout(r, 50));
  t.is(ex.calls.filter((c) => c.method === 'prepare').length, 1);
});
