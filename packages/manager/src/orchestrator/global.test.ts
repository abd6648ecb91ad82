import test from 'ava';
import type { Service } from '@shoal/api';
import { GlobalOrchestrator } from './global.js';
import { eventually, harness, liveTasks, node, quiesce, respec, service, setState, updateNode } from './test-helpers.js';

const onNodes = (ts: Array<{ node_id: string }>): string[] => ts.map((t) => t.node_id).sort();

test('a global service runs one task on each active READY node, including nodes that join later', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.nodes.create(node('n2'));
    tx.nodes.create(node('n3', { state: 'DOWN' }));
    tx.nodes.create(node('n4', { availability: 'PAUSE' }));
    tx.services.create(service('g1', 'agent', { mode: 'global' }));
  });
  h.start(new GlobalOrchestrator(h.store, { clock: h.clock }));
  t.deepEqual(onNodes((await eventually(() => (liveTasks(h.store, 'g1').length === 2 ? liveTasks(h.store, 'g1') : undefined))) ?? []), ['n1', 'n2']);
  const first = liveTasks(h.store, 'g1')[0];
  t.is(first?.slot, '0');
  t.is(first?.desired_state, 'RUNNING');
  await h.store.update((tx) => void tx.nodes.create(node('n5')));
  t.deepEqual(onNodes((await eventually(() => (liveTasks(h.store, 'g1').length === 3 ? liveTasks(h.store, 'g1') : undefined))) ?? []), ['n1', 'n2', 'n5']);
  await quiesce();
  t.is(liveTasks(h.store, 'g1').length, 3, 'exactly one per node');
  await h.stop();
});

test('draining a node, or its removal, shuts its global task down; reactivating brings one back', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.nodes.create(node('n2'));
    tx.services.create(service('g1', 'agent', { mode: 'global' }));
  });
  h.start(new GlobalOrchestrator(h.store, { clock: h.clock }));
  await eventually(() => liveTasks(h.store, 'g1').length === 2);
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, availability: 'DRAIN' }));
  t.deepEqual(onNodes((await eventually(() => (liveTasks(h.store, 'g1').length === 1 ? liveTasks(h.store, 'g1') : undefined))) ?? []), ['n2']);
  await h.store.update((tx) => tx.nodes.delete('n2'));
  t.truthy(await eventually(() => liveTasks(h.store, 'g1').length === 0));
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, availability: 'ACTIVE' }));
  t.deepEqual(onNodes((await eventually(() => (liveTasks(h.store, 'g1').length === 1 ? liveTasks(h.store, 'g1') : undefined))) ?? []), ['n1']);
  await h.stop();
});

test('a global service runs only on nodes matching its constraints, following label changes', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1', { labels: { zone: 'a' } }));
    tx.nodes.create(node('n2', { labels: { zone: 'b' } }));
    tx.services.create(service('g1', 'agent', { mode: 'global', constraints: ['node.labels.zone==a'] }));
  });
  h.start(new GlobalOrchestrator(h.store, { clock: h.clock }));
  t.deepEqual(onNodes((await eventually(() => (liveTasks(h.store, 'g1').length === 1 ? liveTasks(h.store, 'g1') : undefined))) ?? []), ['n1']);
  await updateNode(h.store, 'n2', (n) => void (n.spec = { ...n.spec, annotations: { name: '', labels: { zone: 'a' } } }));
  await updateNode(h.store, 'n1', (n) => void (n.spec = { ...n.spec, annotations: { name: '', labels: { zone: 'c' } } }));
  t.truthy(await eventually(() => onNodes(liveTasks(h.store, 'g1')).join() === 'n2'));
  await h.stop();
});

test('a failed global task is restarted on its node; a spec change replaces it there', async (t) => {
  const h = harness();
  await h.store.update((tx) => {
    tx.nodes.create(node('n1'));
    tx.services.create(service('g1', 'agent', { mode: 'global', restart: { delayMs: 0 } }));
  });
  h.start(new GlobalOrchestrator(h.store, { clock: h.clock }));
  const first = await eventually(() => liveTasks(h.store, 'g1')[0]);
  if (!first) return t.fail('no task');
  await setState(h, first.id, 'FAILED');
  const second = await eventually(() => liveTasks(h.store, 'g1').find((x) => x.id !== first.id));
  t.is(second?.node_id, 'n1');
  if (!second) return;
  await setState(h, second.id, 'RUNNING');
  await h.store.update((tx) => {
    const s = tx.services.get('g1') as Service;
    tx.services.update(respec(s, (spec) => void (spec.task = { ...spec.task, container: { image: 'nginx:1' } })));
  });
  const third = await eventually(() => liveTasks(h.store, 'g1').find((x) => x.spec?.container?.image === 'nginx:1'));
  t.is(third?.node_id, 'n1');
  t.is(third?.desired_state, 'READY', 'waits for the old task to stop');
  await setState(h, second.id, 'SHUTDOWN');
  t.truthy(await eventually(() => liveTasks(h.store, 'g1').find((x) => x.id === third?.id && x.desired_state === 'RUNNING')));
  t.is(liveTasks(h.store, 'g1').length, 1);
  await h.stop();
});
