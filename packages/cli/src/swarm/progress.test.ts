// The pure convergence rule behind `service create/update/scale` progress.
import type { Service__Output, Task__Output } from '@shoal/api';
import test from 'ava';
import { snapshot } from './progress.js';

const service = (spec: Partial<NonNullable<Service__Output['spec']>>, version = '2'): Service__Output =>
  ({ id: 's', spec: { annotations: { name: 'x', labels: {} }, task: null, ...spec }, spec_version: { index: version } }) as unknown as Service__Output;

const task = (slot: string, state: string, o: Partial<Task__Output> = {}): Task__Output =>
  ({
    id: `t${slot}${state}`,
    slot,
    node_id: o.node_id ?? '',
    service_id: 's',
    desired_state: 'RUNNING',
    spec_version: { index: '2' },
    job_iteration: null,
    status: { state, err: '' },
    meta: { created_at: { seconds: '1', nanos: 0 } },
    ...o,
  }) as unknown as Task__Output;

test('a replicated service converges only when every slot runs a task of the current spec', (t) => {
  const s = service({ mode: 'replicated', replicated: { replicas: '2' } });
  t.false(snapshot(s, [task('1', 'RUNNING'), task('2', 'STARTING')], 0).converged);
  // A task of an older spec that differs in the task spec is being replaced.
  t.false(snapshot(s, [task('1', 'RUNNING'), task('2', 'RUNNING', { spec_version: { index: '1' }, spec: { container: { image: 'old' } } as never })], 0).converged);
  const done = snapshot(s, [task('1', 'RUNNING'), task('2', 'RUNNING')], 0);
  t.true(done.converged);
  t.deepEqual(done.header, ['overall progress: 2 out of 2 tasks']);
  t.deepEqual(done.lines.map((l) => `${l.key}: ${l.text}`), ['1/2: running', '2/2: running']);
});

test('after a scale, tasks of the older spec version whose task spec is unchanged count as current', (t) => {
  const spec = { container: { image: 'busybox' } } as never;
  const s = service({ mode: 'replicated', replicated: { replicas: '3' }, task: spec }, '3');
  const old = { spec_version: { index: '2' }, spec, endpoint: null } as Partial<Task__Output>;
  const snap = snapshot(s, [task('1', 'RUNNING', old), task('2', 'RUNNING', old), task('3', 'RUNNING', { spec_version: { index: '3' }, spec })], 0);
  t.true(snap.converged);
  t.deepEqual(snap.lines.map((l) => `${l.key}: ${l.text}`), ['1/3: running', '2/3: running', '3/3: running']);
});

test('a pending task shows the scheduler’s explanation on its slot line', (t) => {
  const s = service({ mode: 'replicated', replicated: { replicas: '1' } });
  const snap = snapshot(s, [task('1', 'PENDING', { status: { state: 'PENDING', err: 'no suitable node (1 node not ready)' } as Task__Output['status'] })], 0);
  t.is(snap.lines[0]?.text, 'no suitable node (1 node not ready)');
  t.is(snap.lastError, 'no suitable node (1 node not ready)');
});

test('a slot failing three times is reported; with restart condition none, once is enough', (t) => {
  const failed = (i: number) => task('1', 'FAILED', { id: `f${i}`, desired_state: 'SHUTDOWN', status: { state: 'FAILED', err: 'exit 1' } as Task__Output['status'] });
  const s = service({ mode: 'replicated', replicated: { replicas: '1' } });
  t.is(snapshot(s, [failed(1), failed(2)], 0).failure, undefined);
  t.is(snapshot(s, [failed(1), failed(2), failed(3)], 0).failure, 'exit 1');
  const none = service({ mode: 'replicated', replicated: { replicas: '1' }, task: { restart: { condition: 'NONE' } } as never });
  t.is(snapshot(none, [failed(1)], 0).failure, 'exit 1');
});

test('a replicated job converges on enough completions of the current iteration; a global one with no nodes after the grace period', (t) => {
  const job = service({ mode: 'replicated_job', replicated_job: { total_completions: '2', max_concurrent: '1' } });
  const it = { job_iteration: { index: '2' }, desired_state: 'COMPLETE' } as Partial<Task__Output>;
  t.false(snapshot(job, [task('1', 'COMPLETE', it), task('2', 'RUNNING', it)], 0).converged);
  const done = snapshot(job, [task('1', 'COMPLETE', it), task('2', 'COMPLETE', it)], 0);
  t.true(done.converged);
  t.is(done.header[0], 'job progress: 2 out of 2 complete');
  const global = service({ mode: 'global', global: {} });
  t.false(snapshot(global, [], 100, 3000).converged);
  t.true(snapshot(global, [], 3000, 3000).converged);
});
