import test from 'ava';
import type { Node, Task, TaskState__Output } from '@shoal/api';
import { Registry } from 'prom-client';
import { MemoryStore } from '../store/index.js';
import { node, service, task } from '../store/test-fixtures.js';
import { ClusterMetrics } from './cluster-metrics.js';
import type { RaftStatus } from './cluster-metrics.js';
import { ALL_METRICS, TASK_STATES } from './definitions.js';
import { samples, value } from './test-helpers.js';

function setup(raft: Partial<RaftStatus> = {}, storeFiguresOnFollowers?: boolean) {
  const store = new MemoryStore();
  const registry = new Registry();
  const status: RaftStatus = { leader: true, term: 3, commit: 10, applied: 9, ...raft };
  const metrics = new ClusterMetrics(store, {
    registry,
    raft: () => status,
    ...(storeFiguresOnFollowers === undefined ? {} : { storeFiguresOnFollowers }),
  });
  return { store, registry, status, metrics };
}

const on = (nodeId: string, state: TaskState__Output, desired: TaskState__Output = 'RUNNING') => ({ nodeId, state, desired });

function tasksOf(serviceId: string, name: string, specs: Array<{ nodeId: string; state: TaskState__Output; desired: TaskState__Output }>): Task[] {
  return specs.map((s, i) => task(`${serviceId}-t${i}`, serviceId, i + 1, { ...s, serviceName: name }));
}

function downNode(id: string, hostname: string): Node {
  return { ...node(id, hostname), status: { state: 'DOWN' } };
}

test('a replicated service reports its spec replicas as desired and only its wanted running tasks as running', async (t) => {
  const { store, registry } = setup();
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'h1'));
    tx.services.create(service('s1', 'web', { spec: { ...service('s1', 'web').spec, replicated: { replicas: 3 } } }));
    for (const tk of tasksOf('s1', 'web', [
      on('n1', 'RUNNING'),
      on('n1', 'RUNNING'),
      on('', 'PENDING'),
      on('n1', 'RUNNING', 'SHUTDOWN'), // being replaced: not a replica any more
      on('n1', 'FAILED', 'SHUTDOWN'),
    ])) {
      tx.tasks.create(tk);
    }
  });
  const web = { service_name: 'web' };
  t.is(await value(registry, 'shoal_service_desired_replicas', web), 3);
  t.is(await value(registry, 'shoal_service_running_replicas', web), 2);
  t.is(await value(registry, 'shoal_service_tasks', { ...web, state: 'running' }), 3);
  t.is(await value(registry, 'shoal_service_tasks', { ...web, state: 'pending' }), 1);
  t.is(await value(registry, 'shoal_service_tasks', { ...web, state: 'failed' }), 1);
  const taskSeries = await samples(registry, 'shoal_service_tasks');
  t.is(taskSeries.length, TASK_STATES.length, 'every state has a series, zero or not, so graphs have no gaps');
  t.deepEqual(taskSeries[0]?.labels, { service_id: 's1', service_name: 'web', service_mode: 'replicated', state: 'new' });
});

test('a task running on a node marked down does not count as running', async (t) => {
  const { store, registry } = setup();
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'h1'));
    tx.nodes.create(downNode('n2', 'h2'));
    tx.services.create(service('s1', 'web', { spec: { ...service('s1', 'web').spec, replicated: { replicas: 2 } } }));
    for (const tk of tasksOf('s1', 'web', [on('n1', 'RUNNING'), on('n2', 'RUNNING')])) tx.tasks.create(tk);
  });
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'web' }), 1);
});

test('a global service wants one replica per wanted task, a job only its unfinished tasks', async (t) => {
  const { store, registry } = setup();
  const base = service('g', 'agent').spec;
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'h1'));
    tx.nodes.create(node('n2', 'h2'));
    tx.services.create({ id: 'g', spec: { ...base, annotations: { name: 'agent' }, replicated: undefined, global: {} } });
    for (const tk of tasksOf('g', 'agent', [on('n1', 'RUNNING'), on('n2', 'PREPARING'), on('n1', 'SHUTDOWN', 'SHUTDOWN')])) {
      tx.tasks.create(tk);
    }
    tx.services.create({
      id: 'j',
      spec: { ...base, annotations: { name: 'migrate' }, replicated: undefined, replicated_job: { max_concurrent: 2, total_completions: 4 } },
    });
    for (const tk of tasksOf('j', 'migrate', [
      on('n1', 'COMPLETE', 'COMPLETE'),
      on('n1', 'RUNNING', 'COMPLETE'),
      on('n2', 'STARTING', 'COMPLETE'),
    ])) {
      tx.tasks.create(tk);
    }
  });
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'agent', service_mode: 'global' }), 2);
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'agent' }), 1);
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'migrate', service_mode: 'replicated_job' }), 2);
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'migrate' }), 1);
  t.is(await value(registry, 'shoal_service_tasks', { service_name: 'migrate', state: 'complete' }), 1);
});

test('a service being deleted wants no replicas', async (t) => {
  const { store, registry } = setup();
  await store.update((tx) => {
    tx.services.create(service('s1', 'web', { pending_delete: true }));
  });
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'web' }), 0);
});

test('nodes are counted by state, availability and role, with every combination present', async (t) => {
  const { store, registry } = setup();
  await store.update((tx) => {
    tx.nodes.create(node('m1', 'manager-1', 'MANAGER'));
    tx.nodes.create(node('w1', 'worker-1'));
    tx.nodes.create({ ...node('w2', 'worker-2'), spec: { membership: 'ACCEPTED', availability: 'DRAIN', desired_role: 'WORKER' } });
    tx.nodes.create(downNode('w3', 'worker-3'));
  });
  t.is(await value(registry, 'shoal_nodes', { state: 'ready', availability: 'active', role: 'manager' }), 1);
  t.is(await value(registry, 'shoal_nodes', { state: 'ready', availability: 'active', role: 'worker' }), 1);
  t.is(await value(registry, 'shoal_nodes', { state: 'ready', availability: 'drain', role: 'worker' }), 1);
  t.is(await value(registry, 'shoal_nodes', { state: 'down', availability: 'active', role: 'worker' }), 1);
  t.is(await value(registry, 'shoal_nodes', { state: 'disconnected', availability: 'pause', role: 'manager' }), 0);
  t.is((await samples(registry, 'shoal_nodes')).length, 4 * 3 * 2);
});

test('the figures follow the store: a scale and a delete show at the next scrape', async (t) => {
  const { store, registry } = setup();
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'h1'));
    tx.services.create(service('s1', 'web', { spec: { ...service('s1', 'web').spec, replicated: { replicas: 3 } } }));
    for (const tk of tasksOf('s1', 'web', [on('n1', 'RUNNING'), on('n1', 'RUNNING'), on('n1', 'RUNNING')])) tx.tasks.create(tk);
  });
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'web' }), 3);
  await store.update((tx) => {
    const s = tx.services.get('s1');
    if (!s?.spec) throw new Error('no service');
    tx.services.update({ ...s, spec: { ...s.spec, replicated: { replicas: 5 } } });
    for (const tk of tasksOf('s1', 'web', [on('n1', 'RUNNING'), on('n1', 'RUNNING'), on('n1', 'RUNNING'), on('n1', 'RUNNING'), on('n1', 'RUNNING')]).slice(3)) {
      tx.tasks.create(tk);
    }
  });
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'web' }), 5);
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'web' }), 5);
  await store.update((tx) => {
    for (const tk of tx.tasks.find()) tx.tasks.delete(tk.id);
    tx.services.delete('s1');
  });
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'web' }), undefined, 'a deleted service leaves no series');
});

test('raft figures come from the injected status; only the leader exports store figures by default', async (t) => {
  const { store, registry, status } = setup({ leader: false, term: 7, commit: 42, applied: 40 });
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  t.is(await value(registry, 'shoal_raft_leader'), 0);
  t.is(await value(registry, 'shoal_raft_term'), 7);
  t.is(await value(registry, 'shoal_raft_commit_index'), 42);
  t.is(await value(registry, 'shoal_raft_applied_index'), 40);
  t.is((await samples(registry, 'shoal_service_desired_replicas')).length, 0, 'a follower leaves service figures to the leader');
  t.is((await samples(registry, 'shoal_nodes')).length, 0);
  status.leader = true;
  status.term = 8;
  t.is(await value(registry, 'shoal_raft_leader'), 1);
  t.is(await value(registry, 'shoal_raft_term'), 8);
  t.is(await value(registry, 'shoal_service_desired_replicas', { service_name: 'web' }), 1);

  const follower = setup({ leader: false }, true);
  await follower.store.update((tx) => void tx.services.create(service('s1', 'web')));
  t.is(await value(follower.registry, 'shoal_service_desired_replicas', { service_name: 'web' }), 1, 'unless asked to');
});

test('proposal and scheduling latencies land in seconds histograms; heartbeats in a counter', async (t) => {
  const { registry, metrics } = setup();
  metrics.observeProposal(0.003);
  metrics.observeProposal(0.2);
  metrics.observeProposal(-1); // a clock step back is not a latency
  metrics.observeSchedulingPass({ decideMs: 30, writeMs: 20 });
  metrics.incHeartbeat();
  metrics.incHeartbeat(4);
  const count = async (name: string) =>
    (await samples(registry, name)).find((s) => s.metricName === `${name}_count`)?.value;
  const sum = async (name: string) => (await samples(registry, name)).find((s) => s.metricName === `${name}_sum`)?.value;
  t.is(await count('shoal_raft_proposal_duration_seconds'), 2);
  t.is(await count('shoal_scheduler_pass_duration_seconds'), 1);
  t.is(await sum('shoal_scheduler_pass_duration_seconds'), 0.05);
  t.is(await value(registry, 'shoal_dispatcher_heartbeats_total'), 5);
});

test('close unregisters every metric so a new collector can take the registry', async (t) => {
  const { store, registry, metrics } = setup();
  t.throws(() => new ClusterMetrics(store, { registry, raft: () => ({ leader: true, term: 1, commit: 1, applied: 1 }) }));
  metrics.close();
  t.is((await registry.getMetricsAsJSON()).length, 0);
  t.notThrows(() => new ClusterMetrics(store, { registry, raft: () => ({ leader: true, term: 1, commit: 1, applied: 1 }) }));
});

test('every metric name follows the Prometheus conventions', async (t) => {
  const { registry } = setup();
  const exported = (await registry.getMetricsAsJSON()) as unknown as Array<{ name: string; type: string }>;
  for (const m of exported) {
    t.regex(m.name, /^shoal_[a-z]+(_[a-z]+)*$/, m.name);
    if (m.type === 'counter') t.regex(m.name, /_total$/, `${m.name} is a counter`);
    if (m.type === 'histogram') t.regex(m.name, /_seconds$/, `${m.name} is a latency in base units`);
  }
  for (const d of ALL_METRICS) t.regex(d.name, /^shoal_/);
});

test('a scrape of 10,000 tasks stays cheap and the figures are reused while the store is unchanged', async (t) => {
  const { store, registry } = setup();
  await store.batch((b) => {
    b.update((tx) => {
      tx.nodes.create(node('n1', 'h1'));
      tx.services.create(service('s1', 'web', { spec: { ...service('s1', 'web').spec, replicated: { replicas: 10_000 } } }));
    });
    for (let i = 0; i < 10_000; i++) b.update((tx) => void tx.tasks.create(task(`t${i}`, 's1', i + 1, { nodeId: 'n1', state: 'RUNNING' })));
  });
  const t0 = performance.now();
  t.is(await value(registry, 'shoal_service_running_replicas', { service_name: 'web' }), 10_000);
  const first = performance.now() - t0;
  const t1 = performance.now();
  await registry.metrics();
  const second = performance.now() - t1;
  t.log(`first scrape ${first.toFixed(1)} ms, unchanged store ${second.toFixed(1)} ms`);
  t.true(first < 2000, `first scrape took ${first} ms`);
});
