import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { LocalNetwork, nodeStorageFs } from '@shoal/raft';
import type { StorageFs } from '@shoal/raft';
import { ErrorCode, errorCode, isAbortError } from '@shoal/api';
import type { ReadTx } from '../store/tx.js';
import type { StoreEvent } from '../store/watch.js';
import { service, task } from '../store/test-fixtures.js';
import { ClusterRaft } from './cluster-raft.js';
import { NotLeaderError } from './errors.js';
import { ELECTION_TICK, TICK_MS, TestCluster, sameBytes, waitFor } from './test-cluster.js';

// Every test runs its own 3-member cluster; serial, so that two clusters'
// ticks do not compete for the 2 CI cores and provoke elections.
const ELECTION_MS = ELECTION_TICK * TICK_MS;

const serviceIds = (m: { store: { view<T>(cb: (tx: ReadTx) => T): T } }): string[] =>
  m.store.view((tx) => tx.services.find().map((s) => s.id));

test.serial('a change committed on the leader is applied on every member, and all end with identical snapshots', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  const ids = await leader.store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1));
    return tx.services.find().map((s) => s.id);
  });
  t.deepEqual(ids, ['s1']);
  // The update resolved only after the leader's own store applied it.
  const version = leader.store.view((tx) => tx.services.get('s1')?.meta?.version?.index);
  t.truthy(version);
  const index = Number(version);
  t.is(leader.store.appliedIndex, index);

  await c.converge(index);
  const leaderBytes = leader.store.save();
  for (const m of c.followers(leader)) {
    t.is(m.store.view((tx) => tx.services.get('s1')?.meta?.version?.index), version, `${m.id} has the service at the same version`);
    t.is(m.store.view((tx) => tx.tasks.get('t1')?.service_id), 's1');
    t.true(sameBytes(m.store.save(), leaderBytes), `${m.id}'s store saves to the leader's bytes`);
  }
});

test.serial('a change proposed on a follower fails with NotLeader naming the leader and changes nothing', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  await leader.store.update((tx) => void tx.services.create(service('s0', 'base')));
  const follower = c.followers(leader)[0];
  if (!follower) return t.fail();
  await waitFor(() => follower.leader()?.id === leader.id, 2_000, 'the follower to know the leader');
  await c.converge(leader.status().applied);
  const before = follower.store.save();

  const err = await t.throwsAsync(follower.store.update((tx) => void tx.services.create(service('s1', 'web'))));
  t.is(errorCode(err), ErrorCode.NotLeader);
  t.true(err instanceof NotLeaderError);
  t.is((err as NotLeaderError).leaderId, leader.id);
  t.is((err as NotLeaderError).leaderAddr, `local:${leader.id}`);
  t.regex(err?.message ?? '', new RegExp(`leader ${leader.id} \\(local:${leader.id}\\)`));

  // A few heartbeats later still nobody has it, and the follower is unchanged.
  await new Promise((r) => setTimeout(r, 5 * TICK_MS));
  t.true(sameBytes(follower.store.save(), before));
  for (const m of c.members.values()) t.deepEqual(serviceIds(m), ['s0'], `${m.id} has only the committed service`);
});

test.serial('when the leader loses its quorum, the change it is waiting on fails and no member ever applies it', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const old = await c.leader();
  await old.store.update((tx) => void tx.services.create(service('s0', 'base')));
  const before = old.store.save();

  c.net.isolate(old.id);
  const started = performance.now();
  const err = await t.throwsAsync(old.store.update((tx) => void tx.services.create(service('lost', 'never'))));
  const took = performance.now() - started;
  t.true(
    errorCode(err) === ErrorCode.NotLeader || errorCode(err) === ErrorCode.Unavailable,
    `failed with ${errorCode(err)}: ${err?.message}`,
  );
  // Check-quorum makes the leader step down after one election timeout.
  t.true(took < 10 * ELECTION_MS, `the update failed after ${Math.round(took)} ms`);
  t.regex(err?.message ?? '', /may still (be applied|take effect)/, 'the caller is told the outcome is unknown');
  t.true(sameBytes(old.store.save(), before), 'the old leader did not apply the change');
  t.false(old.isLeader());

  // The majority elects a new leader and keeps working.
  const next = await c.leader(5_000, c.followers(old).map((m) => m.id));
  await next.store.update((tx) => void tx.services.create(service('s2', 'after')));

  c.net.heal();
  const target = next.status().applied;
  await c.converge(target);
  const bytes = next.store.save();
  for (const m of c.members.values()) {
    t.deepEqual(serviceIds(m), ['s0', 's2'], `${m.id} never applied the lost change`);
    t.true(sameBytes(m.store.save(), bytes), `${m.id} agrees with the new leader`);
  }
});

test.serial('a member cut off in a minority cannot commit, and says how many managers it reaches, while the majority keeps working', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  const cut = c.followers(leader)[0];
  if (!cut) return t.fail();
  await waitFor(() => cut.leader()?.id === leader.id, 2_000, 'the follower to know the leader');
  c.net.isolate(cut.id);

  // At once: still believes in the old leader (NotLeader) or knows none (Unavailable); never commits.
  const started = performance.now();
  const first = await t.throwsAsync(cut.store.update((tx) => void tx.services.create(service('x1', 'minority'))));
  t.true(performance.now() - started < 2 * ELECTION_MS, 'the refusal is immediate');
  t.true([ErrorCode.NotLeader, ErrorCode.Unavailable].includes(errorCode(first) as 'NotLeader'), errorCode(first));

  // After an election timeout it knows it has no leader and no quorum.
  await waitFor(() => cut.status().lead === '', 10 * ELECTION_MS, 'the cut-off member to forget the leader');
  const err = await t.throwsAsync(cut.store.update((tx) => void tx.services.create(service('x2', 'minority'))));
  t.is(errorCode(err), ErrorCode.Unavailable);
  t.regex(err?.message ?? '', /^No quorum: 1 of 3 managers reachable; 2 are needed/);
  t.deepEqual(cut.reach(), { reachable: 1, voters: 3 });

  // The majority commits meanwhile.
  t.true(leader.isLeader());
  await leader.store.update((tx) => void tx.services.create(service('s1', 'majority')));
  t.deepEqual(leader.reach(), { reachable: 2, voters: 3 });
  t.deepEqual(serviceIds(cut), []);

  c.net.heal();
  const final = await c.leader();
  await c.converge(final.status().applied);
  for (const m of c.members.values()) t.deepEqual(serviceIds(m), ['s1'], `${m.id} has exactly the majority's change`);
  t.true(sameBytes(cut.store.save(), final.store.save()));
});

test.serial('a restarted member rebuilds its store from its newest snapshot and the log after it, then catches up', async (t) => {
  const c = await TestCluster.start(['m1', 'm2', 'm3'], { snapshotEvery: 5, snapshotCatchUpEntries: 2 });
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  for (let i = 0; i < 13; i++) await leader.store.update((tx) => void tx.services.create(service(`s${i}`, `svc${i}`)));
  const follower = c.followers(leader)[0];
  if (!follower) return t.fail();
  await c.converge(leader.status().applied);
  const id = follower.id;
  const savedBefore = follower.store.save();
  const appliedBefore = follower.store.appliedIndex;
  await c.stopMember(id);

  // Changes it misses while down.
  await leader.store.update((tx) => void tx.services.delete('s0'));
  await leader.store.update((tx) => void tx.services.create(service('late', 'late')));

  // Restarted with no network: everything it has comes from its own disk.
  c.net.isolate(id);
  const back = await c.startMember(id);
  const snapIndex = back.status().snapshotIndex;
  t.true(snapIndex > 0, 'a snapshot was taken and loaded');
  await waitFor(() => back.store.appliedIndex >= appliedBefore, 5_000, 'the restarted member to replay its log');
  t.true(appliedBefore > snapIndex, 'entries after the snapshot came from the WAL');
  t.true(sameBytes(back.store.save(), savedBefore), 'the store is exactly what it was before the stop');

  c.net.heal();
  const now = await c.leader();
  await c.converge(now.status().applied);
  t.true(sameBytes(back.store.save(), now.store.save()), 'after catching up it matches the leader');
  t.true(serviceIds(back).includes('late'));
  t.false(serviceIds(back).includes('s0'));
});

test.serial('after the whole cluster restarts, every store is back and a new leader accepts changes', async (t) => {
  const c = await TestCluster.start(['m1', 'm2', 'm3'], { snapshotEvery: 4 });
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  for (let i = 0; i < 6; i++) await leader.store.update((tx) => void tx.services.create(service(`s${i}`, `svc${i}`)));
  await c.converge(leader.status().applied);
  const bytes = leader.store.save();
  await c.stopAll();
  for (const id of c.ids) await c.startMember(id);
  const next = await c.leader();
  await next.store.update((tx) => void tx.services.create(service('s6', 'svc6')));
  await c.converge(next.status().applied);
  for (const m of c.members.values()) {
    t.is(serviceIds(m).length, 7, `${m.id} has every service`);
    t.true(sameBytes(m.store.save(), next.store.save()));
  }
  t.false(sameBytes(bytes, next.store.save()));
});

test.serial('a watcher on a follower gets each change as the follower applies it, with the Raft index as version', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  const follower = c.followers(leader)[0];
  if (!follower) return t.fail();
  const watcher = follower.store.watch({ tables: ['services'] });
  t.teardown(() => watcher.close());

  await leader.store.update((tx) => void tx.services.create(service('s1', 'web')));
  const index = leader.store.appliedIndex;
  const got: Array<{ e: StoreEvent; visible: boolean }> = [];
  for (let i = 0; i < 2; i++) {
    const r = await watcher.next();
    if (r.done) return t.fail('the watcher closed');
    // Events are published after the entry applied: the follower's view already shows it.
    got.push({ e: r.value, visible: serviceIds(follower).includes('s1') });
  }
  const [change, commit] = got;
  t.is(change?.e.kind, 'create');
  t.is(change?.e.kind === 'create' ? change.e.object.id : '', 's1');
  t.is(change?.e.version, index);
  t.true(change?.visible);
  t.deepEqual(commit?.e, { kind: 'commit', version: index, changes: 1 });

  await leader.store.update((tx) => void tx.services.delete('s1'));
  const del = await watcher.next();
  t.is(del.done ? undefined : del.value.kind, 'delete');
});

test.serial('leadership is announced to listeners on one member only, and moves when the leader stops', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const events: string[] = [];
  const seenAtStart = new Map<string, number>();
  for (const m of c.members.values()) {
    m.onLeadershipChange((leading) => {
      events.push(`${m.id}:${leading}`);
      if (leading) seenAtStart.set(m.id, serviceIds(m).length);
    });
  }
  const first = await c.leader();
  t.deepEqual(events, [`${first.id}:true`]);
  for (let i = 0; i < 3; i++) await first.store.update((tx) => void tx.services.create(service(`s${i}`, `svc${i}`)));

  await c.stopMember(first.id);
  t.deepEqual(events, [`${first.id}:true`, `${first.id}:false`], 'stopping announces the end of leadership');
  const second = await c.leader(10 * ELECTION_MS);
  t.not(second.id, first.id);
  t.deepEqual(events.slice(2), [`${second.id}:true`]);
  t.is(seenAtStart.get(second.id), 3, 'the new leader announced itself only with every committed change applied');
  await second.store.update((tx) => void tx.services.create(service('s3', 'svc3')));

  // A late subscriber on the leader hears at once.
  let late: boolean | undefined;
  second.onLeadershipChange((l) => (late = l));
  t.is(late, true);
});

test.serial('an aborted update rejects with the signal reason', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  c.net.isolate(leader.id);
  const ac = new AbortController();
  const p = leader.store.update((tx) => void tx.services.create(service('s1', 'web')), { signal: ac.signal });
  setTimeout(() => ac.abort(), 2 * TICK_MS);
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.true(isAbortError(err), String(err));
  t.deepEqual(serviceIds(leader), []);
});

test.serial('a single manager leads itself and commits alone; its data directory cannot be reused under another ID', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-store-raft-solo-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const net = new LocalNetwork();
  const opts = { dataDir: root, peers: [{ id: 'solo', addr: 'local:solo' }], tickMs: TICK_MS, electionTick: ELECTION_TICK };
  const solo = await ClusterRaft.start({ ...opts, id: 'solo', transport: net.transport('solo') });
  await waitFor(() => solo.isLeader(), 10 * ELECTION_MS, 'the single member to lead');
  t.deepEqual(solo.reach(), { reachable: 1, voters: 1 });
  await solo.store.update((tx) => void tx.services.create(service('s1', 'web')));
  await solo.barrier();
  t.deepEqual(serviceIds(solo), ['s1']);
  await solo.stop();
  t.false(solo.isLeader());

  const err = await t.throwsAsync(ClusterRaft.start({ ...opts, id: 'intruder', transport: net.transport('intruder') }));
  t.is(errorCode(err), ErrorCode.InvalidArgument);
  t.regex(err?.message ?? '', /belongs to member solo/);
});

test.serial('a change waiting when the member stops fails with Unavailable', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  c.net.isolate(leader.id);
  const p = leader.store.update((tx) => void tx.services.create(service('s1', 'web')));
  await new Promise((r) => setTimeout(r, 2 * TICK_MS));
  await c.stopMember(leader.id);
  const err = await t.throwsAsync(p);
  t.is(errorCode(err), ErrorCode.Unavailable);
  t.regex(err?.message ?? '', /stopping/);
});

test.serial('a leader whose disk fails stops leading: its waiting change fails with Internal and listeners hear it', async (t) => {
  const broken = new Set<string>();
  const fsFor = (id: string): StorageFs => ({
    ...nodeStorageFs,
    datasync: async (fh) => {
      if (broken.has(id)) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      return nodeStorageFs.datasync(fh);
    },
  });
  const c = await TestCluster.start(['m1', 'm2', 'm3'], {}, (id) => ({ disk: { fs: fsFor(id) } }));
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  const heard: boolean[] = [];
  leader.onLeadershipChange((l) => heard.push(l));
  broken.add(leader.id);
  const err = await t.throwsAsync(leader.store.update((tx) => void tx.services.create(service('s1', 'web'))));
  t.is(errorCode(err), ErrorCode.Internal);
  t.regex(err?.message ?? '', /EIO/);
  const fatal = await leader.done;
  t.regex(fatal?.message ?? '', /EIO/);
  t.false(leader.isLeader());
  t.deepEqual(heard, [true, false]);

  // The others carry on without it.
  const next = await c.leader(10 * ELECTION_MS, c.followers(leader).map((m) => m.id));
  await next.store.update((tx) => void tx.services.create(service('s2', 'db')));
});

test.serial('a manager added to a running cluster receives the whole store through a snapshot and becomes a voter', async (t) => {
  const c = await TestCluster.start(['m1', 'm2', 'm3'], { snapshotEvery: 5, snapshotCatchUpEntries: 1 });
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  for (let i = 0; i < 8; i++) await leader.store.update((tx) => void tx.services.create(service(`s${i}`, `svc${i}`)));

  const peers = [...c.ids.map((id) => ({ id, addr: `local:${id}` })), { id: 'm4', addr: 'local:m4' }];
  const added = await c.startMember('m4', { join: true, peers });
  const follower = c.followers(leader).find((m) => m.id !== 'm4');
  if (!follower) return t.fail();
  const notHere = await t.throwsAsync(follower.addManager('m4', 'local:m4'));
  t.is(errorCode(notHere), ErrorCode.NotLeader);
  await leader.addManager('m4', 'local:m4');
  t.deepEqual([...leader.status().config.voters].sort(), ['m1', 'm2', 'm3', 'm4']);
  t.is(leader.reach().voters, 4);
  await c.converge(leader.status().applied);
  t.true(sameBytes(added.store.save(), leader.store.save()), 'the new member has the whole store');
  t.true(added.status().snapshotIndex > 0, 'the log was compacted, so it got a snapshot');

  const again = await t.throwsAsync(leader.addManager('m4', 'local:m4'));
  t.is(errorCode(again), ErrorCode.FailedPrecondition);

  await leader.removeManager('m4');
  t.is(leader.status().config.voters.length, 3);
});
