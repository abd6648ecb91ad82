import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import {
  all,
  byDesiredState,
  byIdPrefix,
  byMembership,
  byName,
  byNamePrefix,
  byNode,
  byReferencedConfig,
  byReferencedNetwork,
  byReferencedSecret,
  byRole,
  byService,
  bySlot,
  byTaskState,
  or,
} from './selectors.js';
import type { Selector } from './selectors.js';
import type { ReadTx } from './tx.js';
import { node, service, task } from './test-fixtures.js';

async function seeded(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'alpha', 'MANAGER'));
    tx.nodes.create(node('n2', 'beta'));
    tx.nodes.create({ ...node('n3', 'gamma'), spec: { membership: 'PENDING', annotations: { name: 'Custom' } } });
    tx.services.create(service('s1', 'web'));
    tx.services.create(
      service('s2', 'webhook', {
        spec: {
          annotations: { name: 'webhook' },
          task: {
            container: { image: 'x', secrets: [{ secret_id: 'sec1' }], configs: [{ config_id: 'cfg1' }] },
            networks: [{ target: 'net1' }],
          },
        },
      }),
    );
    tx.services.create(service('s3', 'db'));
    tx.tasks.create(task('t1', 's1', 1, { nodeId: 'n1', state: 'RUNNING', serviceName: 'web' }));
    tx.tasks.create(task('t2', 's1', 2, { nodeId: 'n2', state: 'RUNNING', serviceName: 'web' }));
    tx.tasks.create(task('t3', 's1', 1, { nodeId: 'n2', desired: 'SHUTDOWN', state: 'FAILED', serviceName: 'web' }));
    tx.tasks.create(task('t4', 's2', 1, { secrets: ['sec1'], configs: ['cfg1'], networks: ['net1'], serviceName: 'webhook' }));
    tx.networks.create({ id: 'net1', spec: { annotations: { name: 'backend' } } });
    tx.secrets.create({ id: 'sec1', spec: { annotations: { name: 'pw' } } });
    tx.configs.create({ id: 'cfg1', spec: { annotations: { name: 'conf' } } });
    tx.volumes.create({ id: 'v1', spec: { annotations: { name: 'data' } } });
    tx.clusters.create({ id: 'c1', spec: { annotations: { name: 'default' } } });
  });
  return store;
}

const ids = (objs: { id: string }[]): string[] => objs.map((o) => o.id);

const cases: Array<[string, (tx: ReadTx) => { id: string }[], string[]]> = [
  ['all', (tx) => tx.services.find(all), ['s1', 's2', 's3']],
  ['byName ignores case', (tx) => tx.services.find(byName('WEB')), ['s1']],
  ['byName of a node falls back to its hostname', (tx) => tx.nodes.find(byName('alpha')), ['n1']],
  ['byName of a node prefers its spec name', (tx) => tx.nodes.find(byName('custom')), ['n3']],
  ['byName of a task is service.slot.id', (tx) => tx.tasks.find(byName('web.2.t2')), ['t2']],
  ['byNamePrefix', (tx) => tx.services.find(byNamePrefix('We')), ['s1', 's2']],
  ['byIdPrefix', (tx) => tx.tasks.find(byIdPrefix('t')), ['t1', 't2', 't3', 't4']],
  ['byService', (tx) => tx.tasks.find(byService('s1')), ['t1', 't2', 't3']],
  ['byNode', (tx) => tx.tasks.find(byNode('n2')), ['t2', 't3']],
  ['bySlot takes every generation of a slot', (tx) => tx.tasks.find(bySlot('s1', 1)), ['t1', 't3']],
  ['byDesiredState', (tx) => tx.tasks.find(byDesiredState('SHUTDOWN')), ['t3']],
  ['byTaskState', (tx) => tx.tasks.find(byTaskState('RUNNING')), ['t1', 't2']],
  ['byRole', (tx) => tx.nodes.find(byRole('MANAGER')), ['n1']],
  ['byMembership', (tx) => tx.nodes.find(byMembership('PENDING')), ['n3']],
  ['byReferencedSecret on services', (tx) => tx.services.find(byReferencedSecret('sec1')), ['s2']],
  ['byReferencedSecret on tasks', (tx) => tx.tasks.find(byReferencedSecret('sec1')), ['t4']],
  ['byReferencedConfig', (tx) => tx.tasks.find(byReferencedConfig('cfg1')), ['t4']],
  ['byReferencedNetwork on services', (tx) => tx.services.find(byReferencedNetwork('net1')), ['s2']],
  ['byReferencedNetwork on tasks', (tx) => tx.tasks.find(byReferencedNetwork('net1')), ['t4']],
  ['or takes each object once', (tx) => tx.tasks.find(or(byNode('n1'), bySlot('s1', 1))), ['t1', 't3']],
  ['byName on networks', (tx) => tx.networks.find(byName('backend')), ['net1']],
  ['byName on volumes', (tx) => tx.volumes.find(byName('data')), ['v1']],
  ['byName on secrets', (tx) => tx.secrets.find(byName('pw')), ['sec1']],
  ['byName on configs', (tx) => tx.configs.find(byName('conf')), ['cfg1']],
  ['byName on clusters', (tx) => tx.clusters.find(byName('default')), ['c1']],
];

for (const [name, query, expected] of cases) {
  test(`selector ${name}`, async (t) => {
    const store = await seeded();
    t.deepEqual(ids(store.view(query)), expected, 'on the committed state');
    // The same answer from inside a write transaction with no changes.
    await store.update((tx) => t.deepEqual(ids(query(tx)), expected, 'inside a write transaction'));
  });
}

test('indexes follow changes: a task moved to another node leaves the old node', async (t) => {
  const store = await seeded();
  await store.update((tx) => {
    const t1 = tx.tasks.get('t1');
    if (!t1) throw new Error('missing');
    tx.tasks.update({ ...t1, node_id: 'n2', status: { ...t1.status, state: 'SHUTDOWN' } });
    // Inside the transaction, its own change is already visible through the index.
    t.deepEqual(ids(tx.tasks.find(byNode('n1'))), []);
    t.deepEqual(ids(tx.tasks.find(byNode('n2'))), ['t1', 't2', 't3']);
  });
  store.view((tx) => {
    t.deepEqual(ids(tx.tasks.find(byNode('n1'))), []);
    t.deepEqual(ids(tx.tasks.find(byTaskState('RUNNING'))), ['t2']);
    t.deepEqual(ids(tx.tasks.find(byTaskState('SHUTDOWN'))), ['t1']);
  });
  await store.update((tx) => tx.tasks.delete('t2'));
  t.deepEqual(ids(store.view((tx) => tx.tasks.find(byNode('n2')))), ['t1', 't3']);
});

test('a rename frees the old name and takes the new one', async (t) => {
  const store = await seeded();
  await store.update((tx) => {
    const s = tx.services.get('s3');
    if (!s?.spec) throw new Error('missing');
    tx.services.update({ ...s, spec: { ...s.spec, annotations: { name: 'postgres', labels: {} } } });
  });
  await store.update((tx) => void tx.services.create(service('s4', 'db')));
  t.deepEqual(ids(store.view((tx) => tx.services.find(byName('postgres')))), ['s3']);
  t.deepEqual(ids(store.view((tx) => tx.services.find(byName('db')))), ['s4']);
});

test('a selector a table does not index is refused', async (t) => {
  const store = await seeded();
  const refuse = (sel: Selector): void => {
    const err = t.throws(() => store.view((tx) => tx.services.find(sel)));
    t.true(isInvalidArgument(err));
  };
  refuse(byNode('n1'));
  refuse(or(byName('web'), bySlot('s1', 1)));
  const err = t.throws(() => store.view((tx) => tx.networks.find(byRole('MANAGER'))));
  t.is(err?.message, 'The networks table cannot be queried byRole(MANAGER); use a selector it indexes.');
});
