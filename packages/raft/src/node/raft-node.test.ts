import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { spyFs } from '../storage/test-helpers.js';
import { nodeStorageFs, type StorageFs } from '../storage/fs.js';
import { LocalNetwork } from '../transport/local-transport.js';
import type { Peer } from '../transport/transport.js';
import { isIndeterminate, isNotLeader, type RaftNodeError } from './errors.js';
import { RaftNode, type RaftNodeOptions, type StateMachine } from './raft-node.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An append-only list of strings; apply returns the list's length. */
class ListMachine implements StateMachine {
  items: string[] = [];
  apply(data: Uint8Array): unknown {
    this.items.push(dec.decode(data));
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(dec.decode(data)) as string[];
  }
}

interface Member {
  id: string;
  dir: string;
  sm: ListMachine;
  node: RaftNode;
}

class Cluster {
  readonly net = new LocalNetwork();
  readonly members = new Map<string, Member>();
  constructor(
    private readonly t: ExecutionContext,
    readonly root: string,
    readonly extra: Partial<RaftNodeOptions> = {},
  ) {}

  peers(ids: string[]): Peer[] {
    return ids.map((id) => ({ id, addr: `local:${id}` }));
  }

  async start(id: string, peers: Peer[], opts: Partial<RaftNodeOptions> & { fs?: StorageFs } = {}): Promise<Member> {
    const sm = new ListMachine();
    const dir = join(this.root, id);
    const { fs, ...rest } = opts;
    const node = await RaftNode.start({
      id,
      dataDir: dir,
      peers,
      transport: this.net.transport(id),
      stateMachine: sm,
      tickMs: 10,
      electionTick: 10,
      ...(fs ? { disk: { fs } } : {}),
      ...this.extra,
      ...rest,
    });
    const m = { id, dir, sm, node };
    this.members.set(id, m);
    return m;
  }

  async stop(id: string): Promise<void> {
    const m = this.members.get(id);
    this.members.delete(id);
    await m?.node.stop();
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
  }

  async leader(timeoutMs = 5000): Promise<Member> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (const m of this.members.values()) if (m.node.isLeader()) return m;
      await sleep(10);
    }
    throw new Error('no leader elected');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function cluster(t: ExecutionContext, extra: Partial<RaftNodeOptions> = {}): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-raft-node-'));
  const c = new Cluster(t, root, extra);
  t.teardown(async () => {
    await c.stopAll();
    await rm(root, { recursive: true, force: true });
  });
  return c;
}

async function three(t: ExecutionContext, extra: Partial<RaftNodeOptions> = {}): Promise<Cluster> {
  const c = await cluster(t, extra);
  const peers = c.peers(['n1', 'n2', 'n3']);
  for (const id of ['n1', 'n2', 'n3']) await c.start(id, peers);
  return c;
}

test('a proposal resolves with its index and result once applied, and every member applies it', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  const r = await l.node.propose(enc.encode('a'));
  t.is(r.result, 1);
  t.true(r.index > 1);
  const r2 = await l.node.propose(enc.encode('b'));
  t.is(r2.index, r.index + 1);
  await eventually('all members apply', () => [...c.members.values()].every((m) => m.sm.items.join() === 'a,b'));
  t.pass();
});

test('a proposal on a follower is refused with a definite NotLeader naming the leader', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('x'));
  const f = [...c.members.values()].find((m) => m !== l)!;
  await eventually('follower knows the leader', () => f.node.status().lead === l.id);
  const err = await t.throwsAsync<RaftNodeError>(f.node.propose(enc.encode('y')));
  t.true(isNotLeader(err));
  t.is(err?.leaderId, l.id);
  t.is(err?.leaderAddr, `local:${l.id}`);
  t.false(isIndeterminate(err));
});

test('concurrent proposals share one fsync (group commit)', async (t) => {
  const c = await cluster(t);
  const peers = c.peers(['n1', 'n2', 'n3']);
  const spies = new Map<string, ReturnType<typeof spyFs>>();
  for (const id of ['n1', 'n2', 'n3']) {
    const spy = spyFs();
    spies.set(id, spy);
    await c.start(id, peers, { fs: spy.fs });
  }
  const l = await c.leader();
  await l.node.propose(enc.encode('warm-up'));
  const spy = spies.get(l.id)!;
  const before = spy.count('datasync');
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => l.node.propose(enc.encode(`p${i}`))));
  const syncs = spy.count('datasync') - before;
  t.is(new Set(rs.map((r) => r.index)).size, 200);
  t.true(syncs < 20, `200 proposals took ${syncs} fsyncs on the leader`);
});

test('waiting proposals are rejected with NotLeader when the leader loses leadership', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('before'));
  c.net.isolate(l.id);
  const err = await t.throwsAsync<RaftNodeError>(l.node.propose(enc.encode('cut off')));
  t.true(isNotLeader(err));
  // It was appended to the old leader's log: the outcome is unknown to the caller.
  t.true(isIndeterminate(err));
  c.net.heal();
  const l2 = await c.leader();
  await l2.node.propose(enc.encode('after'));
  await eventually('members converge', () => new Set([...c.members.values()].map((m) => m.sm.items.join())).size === 1);
  t.false(l2.sm.items.includes('cut off'));
});

test('a linearizable read on a follower sees every write acknowledged before it', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  const f = [...c.members.values()].find((m) => m !== l)!;
  for (let i = 0; i < 20; i++) {
    await l.node.propose(enc.encode(`w${i}`));
    await f.node.readIndex();
    t.is(f.sm.items[f.sm.items.length - 1], `w${i}`);
  }
});

test('a read with no reachable leader fails instead of returning stale data', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('x'));
  const f = [...c.members.values()].find((m) => m !== l)!;
  c.net.isolate(f.id);
  const err = await t.throwsAsync(f.node.readIndex());
  t.regex((err as RaftNodeError).code, /NotLeader|Unavailable/);
});

test('an aborted proposal rejects with the signal reason', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  const ac = new AbortController();
  ac.abort(new Error('caller gave up'));
  await t.throwsAsync(l.node.propose(enc.encode('z'), ac.signal), { message: 'caller gave up' });
  c.net.isolate(l.id);
  const ac2 = new AbortController();
  const p = l.node.propose(enc.encode('w'), ac2.signal);
  setTimeout(() => ac2.abort(new Error('timeout')), 20);
  await t.throwsAsync(p, { message: 'timeout' });
});

test('members restart from their snapshot and WAL and keep every applied entry', async (t) => {
  const c = await three(t, { snapshotEvery: 20, snapshotCatchUpEntries: 5 });
  const l = await c.leader();
  for (let i = 0; i < 50; i++) await l.node.propose(enc.encode(`e${i}`));
  await eventually('all apply', () => [...c.members.values()].every((m) => m.sm.items.length === 50));
  // Snapshots are written in the background: wait for the file rather than assume it is there.
  let snaps: string[] = [];
  const end = Date.now() + 5000;
  while (!snaps.some((f) => f.endsWith('.snap')) && Date.now() < end) {
    snaps = await readdir(join(c.root, 'n1', 'snap'));
    await sleep(10);
  }
  t.true(snaps.some((f) => f.endsWith('.snap')));
  await c.stopAll();
  const peers = c.peers(['n1', 'n2', 'n3']);
  for (const id of ['n1', 'n2', 'n3']) await c.start(id, peers);
  const l2 = await c.leader();
  await l2.node.propose(enc.encode('after restart'));
  await eventually('all apply after restart', () => [...c.members.values()].every((m) => m.sm.items.length === 51));
  for (const m of c.members.values()) t.is(m.sm.items[0], 'e0');
});

test('a snapshot being written does not hold up commits, and WAL segments are released only once it is durable', async (t) => {
  // A file system whose fsync of snapshot files waits until the test opens the gate.
  const paths = new Map<unknown, string>();
  let openGate!: () => void;
  const gate = new Promise<void>((r) => (openGate = r));
  let snapFsyncs = 0;
  let armed = false;
  const walUnlinks: string[] = [];
  const fs: StorageFs = {
    ...nodeStorageFs,
    open: async (path, mode) => {
      const fh = await nodeStorageFs.open(path, mode);
      paths.set(fh, path);
      return fh;
    },
    fsync: async (fh) => {
      if (armed && paths.get(fh)?.includes(`${sep}snap${sep}`)) {
        snapFsyncs++;
        await gate;
      }
      return nodeStorageFs.fsync(fh);
    },
    unlink: async (path) => {
      if (path.includes(`${sep}wal${sep}`)) walUnlinks.push(path);
      return nodeStorageFs.unlink(path);
    },
  };
  const c = await cluster(t, { snapshotEvery: 20, snapshotCatchUpEntries: 5 });
  const m = await c.start('n1', c.peers(['n1']), { disk: { fs, segmentBytes: 512 } });
  await c.leader();
  armed = true;
  for (let i = 0; i < 25; i++) await m.node.propose(enc.encode(`e${i}`));
  await eventually('the snapshot save to start', () => snapFsyncs > 0);
  // The save is stuck in fsync; proposals still commit and apply.
  for (let i = 25; i < 60; i++) await m.node.propose(enc.encode(`e${i}`));
  t.is(m.sm.items.length, 60);
  t.deepEqual(walUnlinks, [], 'no WAL segment may go before the snapshot covering it is durable');
  t.false((await readdir(join(m.dir, 'snap'))).some((f) => f.endsWith('.snap') && !f.startsWith('0000000000000001-0000000000000001')));
  openGate();
  await eventually('the WAL release', () => walUnlinks.length > 0);
  t.true((await readdir(join(m.dir, 'snap'))).some((f) => f.endsWith('.snap') && !f.startsWith('0000000000000001-0000000000000001')));
  // A restart finds everything: the snapshot plus the WAL after it.
  await c.stop('n1');
  const again = await c.start('n1', c.peers(['n1']), { disk: { fs: nodeStorageFs, segmentBytes: 512 } });
  await c.leader();
  await again.node.propose(enc.encode('after restart'));
  t.is(again.sm.items.length, 61);
  t.is(again.sm.items[0], 'e0');
});

test('with a pipeline of Readies (pipelineDepth 4) concurrent proposals all apply in one order on every member and survive a restart', async (t) => {
  const c = await three(t, { pipelineDepth: 4, snapshotEvery: 100, snapshotCatchUpEntries: 10 });
  const l = await c.leader();
  const results = await Promise.all(Array.from({ length: 300 }, (_, i) => l.node.propose(enc.encode(`p${i}`))));
  t.deepEqual(new Set(results.map((r) => r.index)).size, 300, 'every proposal got its own index');
  await eventually('all apply', () => [...c.members.values()].every((m) => m.sm.items.length === 300));
  const order = l.sm.items;
  for (const m of c.members.values()) t.deepEqual(m.sm.items, order);
  await c.stopAll();
  const peers = c.peers(['n1', 'n2', 'n3']);
  for (const id of ['n1', 'n2', 'n3']) await c.start(id, peers);
  const l2 = await c.leader();
  await l2.node.propose(enc.encode('after restart'));
  await eventually('all apply after restart', () => [...c.members.values()].every((m) => m.sm.items.length === 301));
  for (const m of c.members.values()) t.deepEqual(m.sm.items.slice(0, 300), order);
});

test('a joining learner catches up from a snapshot, is promoted, and then counts as a voter', async (t) => {
  const c = await three(t, { snapshotEvery: 10, snapshotCatchUpEntries: 2 });
  const l = await c.leader();
  for (let i = 0; i < 30; i++) await l.node.propose(enc.encode(`e${i}`));
  const n4 = await c.start('n4', c.peers(['n1', 'n2', 'n3', 'n4']), { join: true });
  const cs = await l.node.addLearner('n4', 'local:n4');
  t.deepEqual(cs.learners, ['n4']);
  await eventually('learner catches up', () => n4.sm.items.length === 30);
  const cs2 = await l.node.promote('n4', AbortSignal.timeout(5000));
  t.true(cs2.voters.includes('n4'));
  await l.node.propose(enc.encode('with n4'));
  await eventually('n4 applies', () => n4.sm.items.length === 31);
  // One change at a time: the member list is what the leader applied.
  t.deepEqual(n4.node.status().config.voters.sort(), ['n1', 'n2', 'n3', 'n4']);
  t.is(n4.node.member('n4')?.addr, 'local:n4');
});

test('a removed member no longer counts: the remaining two keep committing', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('x'));
  const victim = [...c.members.values()].find((m) => m !== l)!;
  const cs = await l.node.removeMember(victim.id);
  t.false(cs.voters.includes(victim.id));
  await c.stop(victim.id);
  const others = [...c.members.values()].filter((m) => m !== l);
  c.net.isolate(others[0]!.id);
  // With 2 voters a quorum is both: isolating the other must block commits.
  const ac = AbortSignal.timeout(300);
  await t.throwsAsync(l.node.propose(enc.encode('needs both'), ac));
  c.net.heal();
  const l2 = await c.leader();
  await l2.node.propose(enc.encode('ok'));
  t.false(l2.node.status().config.voters.includes(victim.id));
});

test('membership changes go one at a time', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('x'));
  const first = l.node.addLearner('n4', 'local:n4');
  const err = await t.throwsAsync<RaftNodeError>(l.node.addLearner('n5', 'local:n5'));
  t.is(err?.code, 'Unavailable');
  await first;
});

test('leadership transfers to the named voter', async (t) => {
  const c = await three(t);
  const l = await c.leader();
  await l.node.propose(enc.encode('x'));
  const to = [...c.members.values()].find((m) => m !== l)!;
  await l.node.transferLeadership(to.id, AbortSignal.timeout(5000));
  t.true(to.node.isLeader() || to.node.status().lead === to.id);
  const r = await to.node.propose(enc.encode('y'));
  t.true(r.index > 0);
});

test('a data directory of another member is refused', async (t) => {
  const c = await three(t);
  await c.stop('n1');
  const err = await t.throwsAsync<RaftNodeError>(
    RaftNode.start({
      id: 'n9',
      dataDir: join(c.root, 'n1'),
      peers: c.peers(['n9']),
      transport: c.net.transport('n9'),
      stateMachine: new ListMachine(),
    }),
  );
  t.is(err?.code, 'InvalidArgument');
});

test('force-new-cluster: a lone survivor of a lost majority comes back as the only voter with every entry it had', async (t) => {
  const c = await three(t, { snapshotEvery: 20, snapshotCatchUpEntries: 5 });
  const l = await c.leader();
  for (let i = 0; i < 30; i++) await l.node.propose(enc.encode(`e${i}`));
  await eventually('all apply', () => [...c.members.values()].every((m) => m.sm.items.length === 30));
  await c.stopAll();
  // n2 and n3 are gone for good; n1 alone cannot elect itself...
  const alone = await c.start('n1', c.peers(['n1', 'n2', 'n3']));
  await sleep(400);
  t.false(alone.node.isLeader());
  await c.stop('n1');
  // ...until it is told to start a new cluster from its own state.
  const survivor = await c.start('n1', c.peers(['n1']), { forceNewCluster: true });
  const leader = await c.leader();
  t.is(leader.id, 'n1');
  t.deepEqual(survivor.node.status().config.voters, ['n1']);
  t.is(survivor.sm.items.length, 30);
  await survivor.node.propose(enc.encode('after recovery'));
  t.is(survivor.sm.items.at(-1), 'after recovery');
  // And it stays that way across a normal restart.
  await c.stop('n1');
  const again = await c.start('n1', c.peers(['n1']));
  await c.leader();
  t.is(again.sm.items.length, 31);
});
