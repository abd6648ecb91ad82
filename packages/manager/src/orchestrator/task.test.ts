import test from 'ava';
import type { Cluster__Output, Service__Output, Task__Output } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { isTaskDirty, newTask, stateRank } from './task.js';
import { service } from './test-helpers.js';

/** Stores a service and a task made from it, to compare them in their stored (decoded) form. */
async function stored(mode: 'replicated' | 'global' | 'replicated_job', cluster?: Cluster__Output): Promise<{ s: Service__Output; t: Task__Output }> {
  const store = new MemoryStore();
  return store.update((tx) => {
    const s = tx.services.create(service('s1', 'web', { mode }));
    const t = tx.tasks.create(newTask(s, mode === 'global' ? 'n1' : 3, cluster));
    return { s, t };
  });
}

test('newTask: a replicated task takes its slot, a global one its node; both start NEW and desired RUNNING', async (t) => {
  const r = await stored('replicated');
  t.is(r.t.slot, '3');
  t.is(r.t.node_id, '');
  t.is(r.t.status?.state, 'NEW');
  t.is(r.t.desired_state, 'RUNNING');
  t.is(r.t.spec_version?.index, r.s.spec_version?.index);
  const g = await stored('global');
  t.is(g.t.slot, '0');
  t.is(g.t.node_id, 'n1');
});

test('newTask: a job task is desired COMPLETE and carries the job iteration', async (t) => {
  const { s, t: task } = await stored('replicated_job');
  t.is(task.desired_state, 'COMPLETE');
  t.is(task.job_iteration?.index, s.spec_version?.index);
});

test('isTaskDirty: a fresh task is clean; a changed image or endpoint makes it dirty; a cluster default log driver does not', async (t) => {
  const cluster = { id: 'c', spec: { task_defaults: { log_driver: { name: 'json-file', options: {} } } } } as unknown as Cluster__Output;
  const { s, t: task } = await stored('replicated', cluster);
  t.is(task.spec?.log_driver?.name, 'json-file');
  const other = { ...s, spec_version: { index: '999' } };
  t.false(isTaskDirty(other, task), 'same spec under another version: clean');
  const image = structuredClone(other);
  if (image.spec?.task?.container) image.spec.task.container.image = 'nginx:1';
  t.true(isTaskDirty(image, task));
  const endpoint = structuredClone(other);
  if (endpoint.spec) endpoint.spec.endpoint = { mode: 'DNSRR', ports: [] };
  t.true(isTaskDirty(endpoint, task));
});

test('task states order as the proto numbers them', (t) => {
  t.true(stateRank('NEW') < stateRank('PENDING'));
  t.true(stateRank('RUNNING') < stateRank('COMPLETE'));
  t.true(stateRank('COMPLETE') < stateRank('SHUTDOWN'));
  t.true(stateRank('ORPHANED') < stateRank('REMOVE'));
});
