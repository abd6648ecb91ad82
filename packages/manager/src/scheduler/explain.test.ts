import test from 'ava';
import type { Task__Output } from '@shoal/api';
import { rankNodes } from './explain.js';
import { NodeInfo } from './node-info.js';
import { GiB, MiB, nodeOutput, task } from './test-fixtures.js';
import type { NodeOptions, TaskOptions } from './test-fixtures.js';

const asOutput = (id: string, service: string, o: TaskOptions = {}): Task__Output =>
  task(id, service, 1, o) as unknown as Task__Output;
const info = (id: string, o: NodeOptions = {}): NodeInfo => new NodeInfo(id, nodeOutput(id, o));

test('rankNodes: passing nodes best first with each scorer score, failing nodes with their filter', (t) => {
  const a = info('a');
  const b = info('b');
  const full = info('full', { memory: 256 * MiB });
  const down = info('down', { state: 'DOWN' });
  a.addTask(asOutput('x', 'web', { nodeId: 'a', state: 'RUNNING' }));
  b.addTask(asOutput('y', 'other', { nodeId: 'b', state: 'RUNNING' }));
  const ranks = rankNodes(asOutput('t', 'web', { memory: 1 * GiB }), [a, b, full, down], 0);
  t.deepEqual(ranks, [
    { nodeId: 'b', scores: { 'recent-failures': 0, 'service-tasks': 0, 'total-tasks': 1 } },
    { nodeId: 'a', scores: { 'recent-failures': 0, 'service-tasks': 1, 'total-tasks': 1 } },
    { nodeId: 'down', failed: 'ready', reason: '1 node not ready', scores: {} },
    { nodeId: 'full', failed: 'resources', reason: 'insufficient memory on 1 node', scores: {} },
  ]);
});

test('rankNodes: a placement preference scores each node by its group\'s tasks of the service', (t) => {
  const a1 = info('a1', { labels: { zone: 'a' } });
  const a2 = info('a2', { labels: { zone: 'a' } });
  const b1 = info('b1', { labels: { zone: 'b' } });
  a1.addTask(asOutput('x', 'web', { nodeId: 'a1', state: 'RUNNING' }));
  const ranks = rankNodes(asOutput('t', 'web', { spread: ['node.labels.zone'] }), [a1, a2, b1], 0);
  t.deepEqual(ranks.map((r) => [r.nodeId, r.scores['spread=node.labels.zone']]), [
    ['b1', 0],
    ['a2', 1],
    ['a1', 1],
  ]);
});

test('a node with many recent failures of the service goes last', (t) => {
  const a = info('a');
  const b = info('b');
  for (let i = 0; i < 5; i++) a.taskFailed('web', 1000 + i);
  b.addTask(asOutput('y', 'web', { nodeId: 'b', state: 'RUNNING' }));
  const ranks = rankNodes(asOutput('t', 'web'), [a, b], 2000);
  t.deepEqual(ranks.map((r) => r.nodeId), ['b', 'a']);
  t.is(ranks[1]?.scores['recent-failures'], 5);
  // Out of the window, the failures stop counting.
  t.deepEqual(rankNodes(asOutput('t', 'web'), [a, b], 1000 + 5 * 60_000 + 10).map((r) => r.nodeId), ['a', 'b']);
});
