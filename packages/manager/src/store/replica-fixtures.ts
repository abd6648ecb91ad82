// Test helpers for comparing replicas: a change set touching every table
// with values whose in-memory form changes on an encode/decode round trip,
// and a follower of the stored objects a store applies.
import type { Service } from '@shoal/api';
import type { MemoryStore } from './memory-store.js';
import type { StoreObject } from './tables.js';
import type { Watcher } from './watch.js';
import { node, service, task } from './test-fixtures.js';

/** Follows every change a store applies: the stored (shared, frozen) objects, by table and id. */
export function follow(store: MemoryStore): { watcher: Watcher; state: () => Map<string, StoreObject> } {
  const watcher = store.watch(undefined, { bufferSize: 1 << 20 });
  const state = new Map<string, StoreObject>();
  return {
    watcher,
    state: () => {
      for (const e of watcher.drain()) {
        if (e.kind === 'commit') continue;
        const k = `${e.table}/${e.object.id}`;
        if (e.kind === 'delete') state.delete(k);
        else state.set(k, e.object);
      }
      return state;
    },
  };
}

export const LONE_SURROGATE = 'bad\uD800label';

// Values whose in-memory form changes on an encode/decode round trip: a float
// (float32 rounding), a lone surrogate (UTF-8 replaces it), a plain
// Uint8Array (decodes as a Buffer), int64s and an enum given as numbers.
export function tricky(i: number): Service {
  const s = service(`svc${i}`, `web${i}`);
  return {
    ...s,
    spec: {
      ...s.spec,
      annotations: { name: `web${i}`, labels: { odd: LONE_SURROGATE, n: String(i) } },
      update: { parallelism: 2, max_failure_ratio: 0.1, failure_action: 2 },
      task: {
        container: { image: 'busybox', args: ['sleep', '1'] },
        resources: { reservations: { nano_cpus: 250_000_000, memory_bytes: 1 << 26 } },
      },
    },
  };
}

/** Writes objects of every table through batch and update (creates, a rolled-back callback, updates, deletes). */
export async function writeEverything(leader: MemoryStore): Promise<void> {
  const res = await leader.batch((b) => {
    for (let i = 0; i < 3; i++) b.update((tx) => void tx.services.create(tricky(i)));
    b.update((tx) => {
      tx.nodes.create({ ...node('n1', 'host1', 'MANAGER'), spec: { membership: 'ACCEPTED', availability: 1, desired_role: 'MANAGER' } });
      tx.nodes.create(node('n2', 'host2'));
    });
    for (let i = 0; i < 5; i++) b.update((tx) => void tx.tasks.create(task(`t${i}`, 'svc0', i + 1, { nodeId: 'n1', secrets: ['sec1'], networks: ['net1'] })));
    b.update((tx) => {
      tx.tasks.create(task('doomed', 'svc0', 99));
      throw new Error('rolled back');
    });
    b.update((tx) => {
      tx.networks.create({ id: 'net1', spec: { annotations: { name: 'overlay1' }, driver_config: { name: 'overlay', options: { vxlan: '4097' } } } });
      tx.volumes.create({ id: 'v1', spec: { annotations: { name: 'data' }, capacity_bytes: 1 << 30 } });
      tx.secrets.create({ id: 'sec1', spec: { annotations: { name: 'pw' }, data: Uint8Array.from([0, 1, 2, 255]) } });
      tx.configs.create({ id: 'cfg1', spec: { annotations: { name: 'conf' }, data: new TextEncoder().encode(`a=${LONE_SURROGATE}`) } });
      tx.clusters.create({
        id: 'c1',
        spec: { annotations: { name: 'default' }, orchestration: { task_history_retention_limit: 5 }, dispatcher: { heartbeat_period: { seconds: 5 } } },
        root_ca: { ca_cert: Buffer.from('PEM'), join_tokens: { worker: 'SWMTKN-1-a-w', manager: 'SWMTKN-1-a-m' } },
      });
    });
  });
  if (res.failed.length !== 1) throw new Error(`expected one failed callback, got ${res.failed.length}`);
  // Updates and deletes, including an update and a delete of one id in one entry.
  await leader.update((tx) => {
    for (const tk of tx.tasks.find()) {
      if (tk.id === 't0') continue;
      tx.tasks.update({ ...tk, node_id: 'n2', status: { ...tk.status, state: 'ASSIGNED', message: `moved ${LONE_SURROGATE}` } });
    }
    const t0 = tx.tasks.get('t0');
    if (t0) tx.tasks.update({ ...t0, desired_state: 'SHUTDOWN' });
    tx.tasks.delete('t0');
    const svc = tx.services.get('svc1');
    if (svc?.spec?.update) tx.services.update({ ...svc, spec: { ...svc.spec, update: { ...svc.spec.update, max_failure_ratio: 0.3 } } });
    tx.nodes.delete('n2');
  });
}
