// Through real Raft (WAL, snapshots off, in-process network): the leader's
// stored objects, applied from what it normalized, equal what each follower
// decodes from the log bytes it received.
import test from 'ava';
import { follow, writeEverything } from '../store/replica-fixtures.js';
import { TABLE_NAMES } from '../store/tables.js';
import { TestCluster, sameBytes } from './test-cluster.js';

test.serial('after a batch touching every table, every follower holds exactly the objects the leader holds', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();
  const watched = [...c.members.values()].map((m) => ({ m, f: follow(m.store) }));
  await writeEverything(leader.store);
  await c.converge(leader.status().applied);
  const mine = watched.find((w) => w.m === leader)?.f.state();
  if (!mine) return t.fail();
  t.true(mine.size > TABLE_NAMES.length, `${mine.size} objects`);
  for (const { m, f } of watched) {
    if (m === leader) continue;
    const theirs = f.state();
    t.deepEqual([...theirs.keys()].sort(), [...mine.keys()].sort(), m.id);
    // The stored (frozen, shared) objects, not the copies a view hands out.
    for (const [k, obj] of mine) t.deepEqual(theirs.get(k), obj, `${m.id} ${k}`);
    t.true(sameBytes(m.store.save(), leader.store.save()), `${m.id} saves to the leader's bytes`);
  }
  for (const { f } of watched) f.watcher.close();
});
