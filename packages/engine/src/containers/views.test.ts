import test from 'ava';
import { statusText } from './views.js';
import { mergeEnv } from './service.js';
import { humanDuration } from './human.js';
import type { ContainerRecord } from './record.js';

const rec = (state: Partial<ContainerRecord['state']>): ContainerRecord =>
  ({ state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '', ...state } }) as ContainerRecord;

test('status text is docker ps STATUS', (t) => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  t.is(statusText(rec({ status: 'running', startedAt: '2026-01-01T00:07:00Z' }), now), 'Up 3 minutes');
  t.is(statusText(rec({ status: 'paused', startedAt: '2026-01-01T00:09:59Z' }), now), 'Up 1 second (Paused)');
  t.is(statusText(rec({ status: 'exited', exitCode: 137, finishedAt: '2026-01-01T00:09:58Z' }), now), 'Exited (137) 2 seconds ago');
  t.is(statusText(rec({ status: 'created' }), now), 'Created');
});

test('human durations follow docker units', (t) => {
  t.is(humanDuration(200), 'Less than a second');
  t.is(humanDuration(90_000), 'About a minute');
  t.is(humanDuration(3_600_000), 'About an hour');
  t.is(humanDuration(5 * 3_600_000), '5 hours');
  t.is(humanDuration(3 * 86_400_000), '3 days');
});

test('container env overrides image env per key and keeps order', (t) => {
  t.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=x', 'C=3']), ['PATH=/bin', 'A=x', 'B=2', 'C=3']);
});
