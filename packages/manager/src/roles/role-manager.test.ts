import test from 'ava';
import type { Node } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { RoleManager } from './role-manager.js';
import type { RoleRaft } from './role-manager.js';

function node(id: string, role: 'MANAGER' | 'WORKER', desired: 'MANAGER' | 'WORKER' = role): Node {
  return { id, role, spec: { desired_role: desired, membership: 'ACCEPTED', availability: 'ACTIVE' }, status: { state: 'READY' } };
}

class FakeRaft implements RoleRaft {
  readonly selfId = 'm1';
  members = new Set(['m1', 'm2', 'm3']);
  quorumOk = true;
  transfers = 0;
  isMember(id: string): boolean {
    return this.members.has(id);
  }
  canRemove(): boolean {
    return this.quorumOk;
  }
  removeManager(id: string): Promise<void> {
    this.members.delete(id);
    return Promise.resolve();
  }
  transferLeadership(): Promise<void> {
    this.transfers++;
    return Promise.resolve();
  }
}

async function eventually(fn: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return fn();
}

function setup(nodes: Node[]): { store: MemoryStore; raft: FakeRaft; rm: RoleManager; stop: () => Promise<void>; role: (id: string) => string | undefined } {
  const store = new MemoryStore();
  const raft = new FakeRaft();
  const rm = new RoleManager(store, { raft, retryMs: 50 });
  const ctl = new AbortController();
  const running = store.update((tx) => {
    for (const n of nodes) tx.nodes.create(n);
  }).then(() => rm.run(ctl.signal));
  return {
    store,
    raft,
    rm,
    role: (id) => store.view((tx) => tx.nodes.get(id)?.role),
    stop: async () => {
      ctl.abort();
      await running;
    },
  };
}

test('a promotion records role MANAGER (the node joins Raft itself)', async (t) => {
  const h = setup([node('m1', 'MANAGER'), node('w1', 'WORKER', 'MANAGER')]);
  t.true(await eventually(() => h.role('w1') === 'MANAGER'));
  t.false(h.raft.isMember('w1'));
  await h.stop();
});

test('a demotion removes the node from Raft, then records role WORKER and clears its manager status', async (t) => {
  const h = setup([node('m1', 'MANAGER'), node('m2', 'MANAGER'), node('m3', 'MANAGER')]);
  await new Promise((r) => setTimeout(r, 20));
  await h.store.update((tx) => {
    const n = tx.nodes.get('m2')!;
    tx.nodes.update({ ...n, spec: { ...n.spec!, desired_role: 'WORKER' }, manager_status: { raft_id: 'm2', addr: 'x:2377' } });
  });
  t.true(await eventually(() => h.role('m2') === 'WORKER'));
  t.false(h.raft.isMember('m2'));
  t.is(h.store.view((tx) => tx.nodes.get('m2')?.manager_status), null);
  await h.stop();
});

test('a demotion that would lose the quorum waits and is retried', async (t) => {
  const h = setup([node('m1', 'MANAGER'), node('m2', 'MANAGER', 'WORKER'), node('m3', 'MANAGER')]);
  h.raft.quorumOk = false;
  await new Promise((r) => setTimeout(r, 200));
  t.is(h.role('m2'), 'MANAGER');
  t.true(h.raft.isMember('m2'));
  t.deepEqual(h.rm.pending(), ['m2']);
  h.raft.quorumOk = true;
  t.true(await eventually(() => h.role('m2') === 'WORKER'));
  t.deepEqual(h.rm.pending(), []);
  await h.stop();
});

test('the leader demoted hands the leadership over instead of removing itself', async (t) => {
  const h = setup([node('m1', 'MANAGER', 'WORKER'), node('m2', 'MANAGER'), node('m3', 'MANAGER')]);
  t.true(await eventually(() => h.raft.transfers > 0));
  t.is(h.role('m1'), 'MANAGER');
  t.true(h.raft.isMember('m1'));
  await h.stop();
});
