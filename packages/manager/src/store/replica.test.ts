// The leader applies its own entries from the objects it normalized, not by
// decoding them again; these tests hold it to giving exactly what a follower
// decodes from the log bytes.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Service } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import { InMemoryProposer } from './proposer.js';
import type { Proposer } from './proposer.js';
import { follow, tricky, writeEverything } from './replica-fixtures.js';
import { TABLE_NAMES } from './tables.js';
import type { StoreObject } from './tables.js';

function sameState(t: ExecutionContext, leader: MemoryStore, follower: MemoryStore, got: { l: Map<string, StoreObject>; f: Map<string, StoreObject> }): void {
  t.deepEqual([...got.l.keys()].sort(), [...got.f.keys()].sort());
  // The stored objects themselves (not copies), so that a Uint8Array where
  // a follower has a Buffer, or 0.1 where it has float32 0.1, would show.
  for (const [k, obj] of got.l) t.deepEqual(obj, got.f.get(k), k);
  for (const name of TABLE_NAMES) {
    t.deepEqual(
      leader.view((tx) => tx[name].find()),
      follower.view((tx) => tx[name].find()),
      name,
    );
  }
  t.deepEqual(follower.save(), leader.save());
  t.is(follower.appliedIndex, leader.appliedIndex);
}

async function check(t: ExecutionContext, makeLeader: (p: InMemoryProposer) => MemoryStore): Promise<void> {
  const proposer = new InMemoryProposer({ firstIndex: 7 });
  const leader = makeLeader(proposer);
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  const l = follow(leader);
  const f = follow(follower);
  await writeEverything(leader);
  sameState(t, leader, follower, { l: l.state(), f: f.state() });
  // Every table was written, and the round-trip changes really happened.
  for (const name of TABLE_NAMES) t.true(leader.view((tx) => tx[name].find().length) > 0, name);
  const svc = l.state().get('services/svc0') as Service & StoreObject;
  t.is(svc.spec?.update?.max_failure_ratio, Math.fround(0.1));
  // protobufjs writes the surrogate as 3 bytes that are not UTF-8; each decodes as U+FFFD.
  t.is(svc.spec?.annotations?.labels?.odd, 'bad\uFFFD\uFFFD\uFFFDlabel');
  t.is(svc.spec?.update?.failure_action, 'ROLLBACK');
  t.true(Buffer.isBuffer((l.state().get('secrets/sec1') as { spec: { data: Uint8Array } }).spec.data));
  t.true(Object.isFrozen(svc) && Object.isFrozen(svc.spec?.update));
}

test('the leader applies its own entries to exactly the state a follower decodes from the log', (t) =>
  check(t, (p) => new MemoryStore(p, { now: () => new Date(1_700_000_000_123) })));

test('so does a leader whose proposer leaves applying its own entries to the store', (t) =>
  check(t, (p) => {
    // No onCommitted: the store applies its entry when propose resolves.
    const bare: Proposer = { propose: (data, signal) => p.propose(data, signal) };
    return new MemoryStore(bare, { now: () => new Date(1_700_000_000_123) });
  }));

test('entries whose outcome the leader never learnt, or that failed and commit later, apply as a follower decodes them', async (t) => {
  const proposer = new InMemoryProposer();
  const proposed: Uint8Array[] = [];
  const recording: Proposer = {
    propose: (data, signal) => {
      proposed.push(Uint8Array.from(data));
      return proposer.propose(data, signal);
    },
    onCommitted: (l) => proposer.onCommitted(l),
  };
  const leader = new MemoryStore(recording);
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  const l = follow(leader);
  const f = follow(follower);
  proposer.failNext();
  await t.throwsAsync(leader.update((tx) => void tx.services.create(tricky(1))));
  proposer.failNextAfterCommit();
  await t.throwsAsync(leader.update((tx) => void tx.services.create(tricky(2))));
  await leader.update((tx) => void tx.services.create(tricky(3)));
  t.is(follower.view((tx) => tx.services.find().length), 2);
  // The first proposal reaches the log after all (a later leader had it).
  proposer.skip(1);
  const first = proposed[0];
  if (!first) return t.fail();
  leader.applyCommitted(proposer.lastIndex, first);
  follower.applyCommitted(proposer.lastIndex, first);
  t.is(leader.view((tx) => tx.services.find().length), 3);
  sameState(t, leader, follower, { l: l.state(), f: f.state() });
});

test('an entry with the same bytes as one the leader proposed, but applied at another index, gets that index', async (t) => {
  const proposer = new InMemoryProposer();
  const leader = new MemoryStore(proposer);
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  await leader.update((tx) => void tx.services.create(tricky(1)));
  const bytes = proposer.log[0]?.data;
  if (!bytes) return t.fail();
  await leader.update((tx) => void tx.services.delete('svc1'));
  // A previous leader's copy of the same change commits later.
  proposer.skip(1);
  leader.applyCommitted(proposer.lastIndex, bytes);
  follower.applyCommitted(proposer.lastIndex, bytes);
  t.is(leader.view((tx) => tx.services.get('svc1')?.meta?.version?.index), String(proposer.lastIndex));
  t.deepEqual(follower.save(), leader.save());
});
