import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { FakeExecutor } from '../fake-executor/fake-executor.js';
import { makeTask } from '../fake-executor/make-task.js';
import { Agent, type AgentOptions } from './agent.js';
import { FakeDispatcher } from './fake-dispatcher.js';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(t: { teardown: (fn: () => Promise<void>) => void }, managers: FakeDispatcher[], o: Partial<AgentOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
  const ex = new FakeExecutor();
  const ac = new AbortController();
  const agent = new Agent({
    executor: ex,
    managers: managers.map((m) => m.addr),
    credentials: () => credentials.createInsecure(),
    dataDir: dir,
    backoffMs: 20,
    maxBackoffMs: 100,
    callTimeoutMs: 2000,
    retryMs: 5,
    ...o,
  });
  const running = agent.run(ac.signal);
  t.teardown(async () => {
    ac.abort();
    await running;
    ex.close();
    for (const m of managers) await m.kill();
    await rm(dir, { recursive: true, force: true });
  });
  return { agent, ex, ac, running, dir };
}

async function dispatcher(periodMs = 200): Promise<FakeDispatcher> {
  const d = new FakeDispatcher();
  d.periodMs = periodMs;
  await d.start();
  return d;
}

test('the agent opens a session with its description, heartbeats at the period the manager names, and runs its assignments', async (t) => {
  const d = await dispatcher(100);
  d.set([makeTask({ id: 'a', image: 'x' }), makeTask({ id: 'b', image: 'x', slot: 2 })]);
  const { agent, ex } = await setup(t, [d]);
  await until('tasks reported running', () => d.states('a').includes('RUNNING') && d.states('b').includes('RUNNING'));
  t.is(d.sessions[0]?.description?.hostname, 'fake-node');
  t.is(ex.containers.get('a')?.state, 'running');
  t.true(agent.state().connected);
  const before = d.heartbeats;
  await new Promise((r) => setTimeout(r, 450));
  // About 4; wide bounds because other tests share the CPUs.
  t.true(d.heartbeats - before >= 2, `heartbeats in 450 ms at a 100 ms period: ${d.heartbeats - before}`);
  t.true(d.heartbeats - before <= 8);
});

test('incremental assignments shut down and remove tasks', async (t) => {
  const d = await dispatcher();
  const a = makeTask({ id: 'a', image: 'x' });
  const b = makeTask({ id: 'b', image: 'x' });
  d.set([a, b]);
  const { ex } = await setup(t, [d]);
  await until('running', () => d.states('a').includes('RUNNING') && d.states('b').includes('RUNNING'));
  d.set([{ ...a, desired_state: 'SHUTDOWN' }]);
  await until('a shut down, b removed', () => d.states('a').includes('SHUTDOWN') && !ex.containers.has('b'));
  t.is(ex.containers.get('a')?.state, 'exited');
});

test('a gap in the assignment sequence makes the agent reopen the stream and resync', async (t) => {
  const d = await dispatcher();
  d.set([makeTask({ id: 'a', image: 'x' })]);
  await setup(t, [d]);
  await until('running', () => d.states('a').includes('RUNNING'));
  t.is(d.assignmentStreams, 1);
  d.incremental([{ action: 'UPDATE', assignment: { task: makeTask({ id: 'z', image: 'x' }) } }], true);
  await until('resynced', () => d.assignmentStreams === 2);
  // The bad message was not applied: z is not in the complete set the resync brought.
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(d.states('z'), []);
});

test('when its manager dies the agent keeps its tasks running and reconnects to another manager from the list', async (t) => {
  const m1 = await dispatcher();
  const m2 = await dispatcher();
  const peers = [
    { node_id: 'm1', addr: m1.addr, weight: 1 },
    { node_id: 'm2', addr: m2.addr, weight: 1 },
  ];
  m1.managers = peers;
  m2.managers = peers;
  const task = makeTask({ id: 'a', image: 'x' });
  m1.set([task]);
  m2.set([task]);
  // The agent only knows m1; m2 comes from the session's manager list.
  const { agent, ex } = await setup(t, [m1]);
  t.teardown(() => m2.kill());
  await until('running on m1', () => m1.states('a').includes('RUNNING'));
  await until('manager list learnt', () => agent.state().managers.length === 2);
  await m1.kill();
  await until('session on m2', () => m2.sessions.length === 1 && agent.state().connected, 5000);
  t.is(m2.sessions[0]?.previous_session_id.startsWith('s1-'), true);
  await until('status re-reported to m2', () => m2.states('a').includes('RUNNING'));
  t.is(ex.containers.get('a')?.starts, 1, 'the task was never restarted');
  t.is(ex.containers.get('a')?.state, 'running');
});

test('with no manager reachable the agent retries with backoff and its tasks keep running', async (t) => {
  const d = await dispatcher();
  d.set([makeTask({ id: 'a', image: 'x' })]);
  const { agent, ex } = await setup(t, [d]);
  await until('running', () => d.states('a').includes('RUNNING'));
  await d.kill();
  await until('disconnected', () => !agent.state().connected);
  await new Promise((r) => setTimeout(r, 300));
  t.is(ex.containers.get('a')?.state, 'running');
  t.not(agent.state().lastError, '');
  t.is(agent.worker.status('a')?.state, 'RUNNING');
});
