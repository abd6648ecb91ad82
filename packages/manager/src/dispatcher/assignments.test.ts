import test from 'ava';
import type { Secret__Output, Task, TaskState__Output, Task__Output } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { AssignmentSet, isAssignedTo } from './assignments.js';
import { peerHost } from './dispatcher.js';

// Tasks in their stored (decoded) form, through a real store.
async function stored(tasks: Task[]): Promise<Map<string, Task__Output>> {
  const store = new MemoryStore();
  await store.update((tx) => {
    for (const t of tasks) tx.tasks.create(t);
  });
  return new Map(store.view((tx) => tx.tasks.find()).map((t) => [t.id, t]));
}

const base = (id: string, state: TaskState__Output, extra: Partial<Task> = {}): Task => ({
  id,
  service_id: 's',
  slot: 1,
  node_id: 'n1',
  desired_state: 'RUNNING',
  status: { state },
  spec: { container: { image: 'x', secrets: [{ secret_id: 'sec', secret_name: 'sec' }] } },
  ...extra,
});

const secret = { id: 'sec' } as Secret__Output;
const lookup = (kind: 'secret' | 'config', id: string) => (kind === 'secret' && id === 'sec' ? secret : undefined);
const summary = (set: AssignmentSet) =>
  set
    .take()
    .map((c) => `${c.action} ${c.assignment?.task ? `task:${c.assignment.task.id}` : `secret:${c.assignment?.secret?.id}`}`)
    .sort();

test('a node is told about its tasks from ASSIGNED on, until they stopped with desired REMOVE', async (t) => {
  const ts = await stored([
    base('pending', 'PENDING'),
    base('assigned', 'ASSIGNED'),
    base('other', 'ASSIGNED', { node_id: 'n2' }),
    base('running-remove', 'RUNNING', { desired_state: 'REMOVE' }),
    base('stopped-remove', 'SHUTDOWN', { desired_state: 'REMOVE' }),
    base('stopped', 'FAILED', { desired_state: 'SHUTDOWN' }),
  ]);
  const is = (id: string) => isAssignedTo('n1', ts.get(id) as Task__Output);
  t.false(is('pending'));
  t.true(is('assigned'));
  t.false(is('other'));
  t.true(is('running-remove'), 'the agent must still stop it');
  t.false(is('stopped-remove'));
  t.true(is('stopped'), 'kept until removed, so the agent can clean up');
});

test('secrets go with the first task that uses them and are withdrawn after the last one stops', async (t) => {
  const ts = await stored([base('a', 'ASSIGNED'), base('b', 'ASSIGNED')]);
  const set = new AssignmentSet('n1', lookup);
  set.apply(ts.get('a') as Task__Output);
  set.apply(ts.get('b') as Task__Output);
  t.deepEqual(summary(set), ['UPDATE secret:sec', 'UPDATE task:a', 'UPDATE task:b']);
  const a = ts.get('a') as Task__Output;
  const withState = (state: TaskState__Output): Task__Output => ({ ...a, status: { ...(a.status as NonNullable<Task__Output['status']>), state } });
  t.false(set.apply(withState('RUNNING')), 'agent-reported: not echoed');
  t.false(set.apply(withState('COMPLETE')), 'stopped, but b still uses the secret');
  t.deepEqual(summary(set), []);
  t.true(set.remove('b'));
  t.deepEqual(summary(set), ['REMOVE secret:sec', 'REMOVE task:b']);
  t.false(set.remove('b'));
  t.is(set.taskCount, 1);
});

test('a task moved to another node is withdrawn', async (t) => {
  const ts = await stored([base('a', 'ASSIGNED')]);
  const set = new AssignmentSet('n1', lookup);
  const a = ts.get('a') as Task__Output;
  set.apply(a);
  set.take();
  t.true(set.apply({ ...a, node_id: 'n2' }));
  t.deepEqual(summary(set), ['REMOVE secret:sec', 'REMOVE task:a']);
});

test('peerHost keeps the address without the port', (t) => {
  t.is(peerHost('127.0.0.1:5000'), '127.0.0.1');
  t.is(peerHost('ipv4:10.1.2.3:2377'), '10.1.2.3');
  t.is(peerHost('[::1]:5000'), '::1');
  t.is(peerHost('::ffff:192.168.1.4:5000'), '192.168.1.4');
  t.is(peerHost('fe80::1:5000'), 'fe80::1');
});
