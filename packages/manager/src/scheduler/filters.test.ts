import test from 'ava';
import type { Task__Output } from '@shoal/api';
import {
  AvailabilityFilter,
  ConstraintFilter,
  HostPortFilter,
  MaxReplicasFilter,
  PlatformFilter,
  ReadyFilter,
  ResourceFilter,
} from './filters.js';
import type { Filter } from './filters.js';
import { NodeInfo } from './node-info.js';
import { Pipeline } from './pipeline.js';
import { GiB, MiB, CPU, nodeOutput, task } from './test-fixtures.js';
import type { NodeOptions, TaskOptions } from './test-fixtures.js';

// Filters read the decoded shape; the fixtures' input shape carries the same fields.
const t = (o: TaskOptions = {}, service = 'svc'): Task__Output => task('t1', service, 1, o) as unknown as Task__Output;
const info = (id: string, o: NodeOptions = {}): NodeInfo => new NodeInfo(id, nodeOutput(id, o));

function check(f: Filter, task: Task__Output, n: NodeInfo): boolean {
  if (!f.setTask(task)) return true;
  return f.check(n);
}

test('ready filter: only READY nodes pass, and it explains how many were not', (t_) => {
  const f = new ReadyFilter();
  t_.true(check(f, t(), info('a')));
  t_.false(check(f, t(), info('b', { state: 'DOWN' })));
  t_.false(check(f, t(), info('c', { state: 'DISCONNECTED' })));
  t_.is(f.explain(1), '1 node not ready');
  t_.is(f.explain(2), '2 nodes not ready');
});

test('availability filter: paused and drained nodes take no new tasks', (t_) => {
  const f = new AvailabilityFilter();
  t_.true(check(f, t(), info('a')));
  t_.false(check(f, t(), info('b', { availability: 'PAUSE' })));
  t_.false(check(f, t(), info('c', { availability: 'DRAIN' })));
  t_.is(f.explain(2), '2 nodes not available');
});

test('resource filter: reservations must fit what is left after the tasks already there', (t_) => {
  const f = new ResourceFilter();
  t_.false(f.setTask(t()), 'a task reserving nothing skips the filter');
  const n = info('a', { cpu: 2 * CPU, memory: 1 * GiB });
  t_.true(check(f, t({ memory: 1 * GiB }), n));
  n.addTask(task('x', 'other', 1, { nodeId: 'a', state: 'RUNNING', memory: 600 * MiB, cpu: 1.5 * CPU }) as unknown as Task__Output);
  t_.false(check(f, t({ memory: 500 * MiB }), n));
  t_.is(f.explain(1), 'insufficient memory on 1 node');
  t_.false(check(f, t({ cpu: 1 * CPU }), n));
  t_.is(f.explain(1), 'insufficient CPU on 1 node');
  t_.true(check(f, t({ cpu: 0.5 * CPU, memory: 400 * MiB }), n));
  n.removeTask('x');
  t_.true(check(f, t({ memory: 1 * GiB }), n), 'removing a task frees its reservation');
});

test('constraint filter: matches node attributes and labels; explains unmet constraints', (t_) => {
  const f = new ConstraintFilter();
  t_.false(f.setTask(t()), 'no constraints, no filter');
  const a = info('a', { labels: { zone: 'east' }, role: 'MANAGER' });
  const b = info('b', { labels: { zone: 'west' } });
  const c = t({ constraints: ['node.labels.zone==east', 'node.role==manager'] });
  t_.true(check(f, c, a));
  t_.false(check(f, c, b));
  t_.is(f.explain(3), 'scheduling constraints not satisfied on 3 nodes');
});

test('constraint filter: a stored task with bad constraints fits nowhere and says why', (t_) => {
  const f = new ConstraintFilter();
  t_.true(f.setTask(t({ constraints: ['node.zone=east'] })));
  t_.false(f.check(info('a')));
  t_.regex(f.explain(1), /^invalid placement constraints: Invalid constraint "node\.zone=east"/);
});

test('platform filter: os and architecture must be among the platforms, with arch aliases', (t_) => {
  const f = new PlatformFilter();
  t_.false(f.setTask(t()), 'no platforms, no filter');
  const arm = info('a', { arch: 'aarch64' });
  const amd = info('b', { arch: 'x86_64' });
  const want = t({ platforms: [{ os: 'linux', architecture: 'arm64' }] });
  t_.true(check(f, want, arm));
  t_.false(check(f, want, amd));
  t_.true(check(f, t({ platforms: [{ os: 'linux' }] }), amd), 'an empty architecture means any');
  t_.false(check(f, t({ platforms: [{ os: 'windows' }] }), amd));
  t_.is(f.explain(2), 'unsupported platform on 2 nodes');
});

test('host port filter: a host-mode published port taken on a node rules it out', (t_) => {
  const f = new HostPortFilter();
  t_.false(f.setTask(t()), 'no host ports, no filter');
  const n = info('a');
  t_.true(check(f, t({ hostPorts: [8080] }), n));
  n.addTask(task('x', 'other', 1, { nodeId: 'a', state: 'RUNNING', hostPorts: [8080] }) as unknown as Task__Output);
  t_.false(check(f, t({ hostPorts: [8080] }), n));
  t_.true(check(f, t({ hostPorts: [8081] }), n));
  t_.is(f.explain(1), 'host-mode port already in use on 1 node');
  n.removeTask('x');
  t_.true(check(f, t({ hostPorts: [8080] }), n), 'the port is free again once the task is gone');
});

test('max replicas filter: counts the service tasks already on the node', (t_) => {
  const f = new MaxReplicasFilter();
  t_.false(f.setTask(t()), 'no limit, no filter');
  const n = info('a');
  const want = t({ maxReplicas: 2 });
  n.addTask(task('x', 'svc', 1, { nodeId: 'a', state: 'RUNNING' }) as unknown as Task__Output);
  t_.true(check(f, want, n));
  n.addTask(task('y', 'svc', 2, { nodeId: 'a', state: 'RUNNING' }) as unknown as Task__Output);
  t_.false(check(f, want, n));
  n.addTask(task('z', 'other', 1, { nodeId: 'a', state: 'RUNNING' }) as unknown as Task__Output);
  t_.true(check(f, t({ maxReplicas: 1 }, 'third'), n), 'other services do not count');
  t_.is(f.explain(2), 'max replicas per node reached on 2 nodes');
});

test('pipeline: counts the first failing filter per node and explains the most common reason first', (t_) => {
  const p = new Pipeline();
  const nodes = [
    info('m1', { memory: 256 * MiB }),
    info('m2', { memory: 256 * MiB }),
    info('m3', { memory: 256 * MiB }),
    info('d1', { availability: 'DRAIN', memory: 256 * MiB }),
    info('d2', { availability: 'PAUSE' }),
  ];
  p.setTask(t({ memory: 1 * GiB }));
  t_.deepEqual(nodes.map((n) => p.process(n)), [false, false, false, false, false]);
  t_.deepEqual(p.counts(), { resources: 3, availability: 2 });
  t_.is(p.explain(), 'insufficient memory on 3 nodes; 2 nodes not available');
  p.resetCounts();
  t_.is(p.explain(), '');
});
