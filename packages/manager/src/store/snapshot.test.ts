import test from 'ava';
import { errorCode } from '@shoal/api';
import type { Service } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import { InMemoryProposer } from './proposer.js';
import { decodeActions, encodeActions } from './codec.js';
import type { DecodedAction } from './codec.js';
import { byName, byNode } from './selectors.js';
import { node, service, task } from './test-fixtures.js';

async function populated(): Promise<MemoryStore> {
  const store = new MemoryStore(new InMemoryProposer({ firstIndex: 100 }), { now: () => new Date(1_700_000_000_000) });
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'host1', 'MANAGER'));
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1, { nodeId: 'n1', state: 'RUNNING' }));
    tx.networks.create({ id: 'net1', spec: { annotations: { name: 'overlay1' }, driver_config: { name: 'overlay', options: { vxlan: '4097' } } } });
    tx.volumes.create({ id: 'v1', spec: { annotations: { name: 'data' }, capacity_bytes: 1 << 30 } });
    tx.secrets.create({ id: 'sec1', spec: { annotations: { name: 'pw' }, data: Buffer.from([0, 1, 2, 255]) } });
    tx.configs.create({ id: 'cfg1', spec: { annotations: { name: 'conf' }, data: Buffer.from('a=b') } });
    tx.clusters.create({
      id: 'c1',
      spec: { annotations: { name: 'default' }, orchestration: { task_history_retention_limit: 5 }, dispatcher: { heartbeat_period: { seconds: 5 } } },
      root_ca: { ca_cert: Buffer.from('PEM'), join_tokens: { worker: 'SWMTKN-1-a-w', manager: 'SWMTKN-1-a-m' } },
    });
  });
  await store.update((tx) => tx.tasks.delete('t1'));
  return store;
}

test('a snapshot restored into a fresh store gives the same state, versions and index', async (t) => {
  const store = await populated();
  const bytes = store.save();
  const copy = new MemoryStore();
  copy.restore(bytes);
  t.deepEqual(copy.save(), bytes);
  t.is(copy.appliedIndex, 101);
  copy.view((tx) => {
    t.is(tx.services.get('s1')?.meta?.version?.index, '100');
    t.is(tx.tasks.get('t1'), undefined);
    t.deepEqual(tx.networks.find(byName('overlay1'))[0]?.spec?.driver_config?.options, { vxlan: '4097' });
    t.deepEqual([...(tx.secrets.get('sec1')?.spec?.data ?? [])], [0, 1, 2, 255]);
    t.is(tx.clusters.get('c1')?.root_ca?.join_tokens?.manager, 'SWMTKN-1-a-m');
    t.is(tx.volumes.get('v1')?.spec?.capacity_bytes, String(1 << 30));
  });
  // Indexes are rebuilt, and stale writes are still refused after a restore.
  await copy.update((tx) => void tx.tasks.create(task('t9', 's1', 1, { nodeId: 'n1' })));
  t.deepEqual(copy.view((tx) => tx.tasks.find(byNode('n1')).map((x) => x.id)), ['t9']);
  t.is(copy.view((tx) => tx.tasks.get('t9')?.meta?.version?.index), '102');
});

test('restore tells open watchers the difference and keeps them open', async (t) => {
  const store = await populated();
  const snapshot = store.save();
  const other = new MemoryStore();
  await other.update((tx) => {
    tx.services.create(service('s1', 'web')); // same id, other version: an update
    tx.services.create(service('gone', 'old')); // not in the snapshot: a delete
  });
  const w = other.watch({ tables: ['services', 'tasks', 'nodes'] });
  other.restore(snapshot);
  const events = w.drain().map((e) => (e.kind === 'commit' ? `commit@${e.version}` : `${e.kind} ${e.object.id}`));
  t.deepEqual(events, ['create n1', 'update s1', 'delete gone', 'commit@101']);
  t.false(w.closed);
});

test('garbage is refused as DataLoss, by restore and by applyCommitted alike', (t) => {
  const store = new MemoryStore();
  t.is(errorCode(t.throws(() => store.restore(Uint8Array.from([0xff, 0xff, 0xff])))), 'DataLoss');
  t.is(errorCode(t.throws(() => store.applyCommitted(1, Uint8Array.from([0x0a, 0x02, 0x08, 0x01])))), 'DataLoss');
  t.is(store.appliedIndex, 0);
});

test('store actions survive an encode/decode round trip with every table and field kind', (t) => {
  const svc: Service = {
    ...service('s1', 'web'),
    spec: {
      annotations: { name: 'web', labels: { a: 'b' } },
      task: {
        container: {
          image: 'nginx:1',
          command: ['nginx'],
          env: ['A=1'],
          mounts: [{ type: 'TMPFS', target: '/tmp', tmpfs_options: { size_bytes: 1024 } }],
          stop_grace_period: { seconds: 10, nanos: 0 },
          init: true,
        },
        resources: { limits: { nano_cpus: 500_000_000, memory_bytes: 64 << 20 } },
        restart: { condition: 'ON_FAILURE', max_attempts: 3 },
        placement: { constraints: ['node.role==manager'], max_replicas: 2 },
      },
      global_job: {},
      endpoint: { mode: 'DNSRR', ports: [{ protocol: 'UDP', target_port: 53, published_port: 5353, publish_mode: 'HOST' }] },
      update: { parallelism: 2, failure_action: 'ROLLBACK', max_failure_ratio: 0.25, order: 'START_FIRST' },
    },
  };
  // The objects are taken in the store's own (normalized) form, as a transaction returns them.
  const store = new MemoryStore();
  const actions: DecodedAction[] = [];
  return store
    .update((tx) => {
      actions.push({ kind: 'create', table: 'services', object: tx.services.create(svc) });
      actions.push({ kind: 'update', table: 'nodes', object: tx.nodes.create(node('n1', 'h')) });
      actions.push({ kind: 'delete', table: 'tasks', object: tx.tasks.create(task('t1', 's1', 7)) });
      actions.push({
        kind: 'create',
        table: 'secrets',
        object: tx.secrets.create({ id: 'x', spec: { annotations: { name: 'x' }, data: Buffer.from('s3cr3t') } }),
      });
    })
    .then(() => {
      const decoded = decodeActions(encodeActions(actions));
      t.deepEqual(decoded, actions);
      const s = decoded[0];
      if (s?.table !== 'services') return t.fail();
      t.is(s.object.spec?.mode, 'global_job');
      t.is(s.object.spec?.task?.resources?.limits?.memory_bytes, String(64 << 20));
      t.is(s.object.spec?.endpoint?.ports[0]?.publish_mode, 'HOST');
    });
});

test('a proposer whose index falls behind the store is caught, and the change is not applied', async (t) => {
  const source = await populated();
  const proposer = new InMemoryProposer(); // still at index 0, while the snapshot is at 101
  const store = new MemoryStore(proposer);
  store.restore(source.save());
  const err = await t.throwsAsync(store.update((tx) => void tx.services.create(service('s2', 'db'))));
  t.is(errorCode(err), 'Internal');
  t.regex(err?.message ?? '', /disagree/);
  t.is(store.view((tx) => tx.services.get('s2')), undefined);
});
