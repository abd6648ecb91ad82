import test from 'ava';
import type { Task } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { Allocator } from './allocator.js';

function task(id: string, state: 'NEW' | 'PENDING' | 'RUNNING', desired: 'RUNNING' | 'COMPLETE' | 'SHUTDOWN'): Task {
  return { id, service_id: 'svc', slot: '1', desired_state: desired, status: { state, message: '', err: '' }, spec: {} };
}

async function until(fn: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return fn();
}

test('new tasks that are wanted become PENDING, before and after the allocator starts; others are left alone', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.tasks.create(task('before', 'NEW', 'RUNNING'));
    tx.tasks.create(task('stopped', 'NEW', 'SHUTDOWN'));
    tx.tasks.create(task('running', 'RUNNING', 'RUNNING'));
  });
  const ctl = new AbortController();
  const run = new Allocator(store).run(ctl.signal);
  const state = (id: string): string | undefined => store.view((tx) => tx.tasks.get(id)?.status?.state);
  t.true(await until(() => state('before') === 'PENDING'));
  await store.update((tx) => {
    tx.tasks.create(task('after', 'NEW', 'RUNNING'));
    tx.tasks.create(task('job', 'NEW', 'COMPLETE'));
  });
  t.true(await until(() => state('after') === 'PENDING' && state('job') === 'PENDING'));
  t.is(store.view((tx) => tx.tasks.get('after')?.status?.message), 'pending task scheduling');
  t.is(state('stopped'), 'NEW');
  t.is(state('running'), 'RUNNING');
  ctl.abort();
  await run;
  store.close();
});
