import test from 'ava';
import { isConflict, isNotFound, isAlreadyExists, isInvalidArgument, errorCode } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import { InMemoryProposer } from './proposer.js';
import { byName } from './selectors.js';
import { encodeActions } from './codec.js';
import { node, service, settle, task } from './test-fixtures.js';

test('a committed update is visible to views and every object it wrote carries the Raft index as its version', async (t) => {
  const proposer = new InMemoryProposer({ firstIndex: 41 });
  const store = new MemoryStore(proposer);
  await store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1));
  });
  const [svc, tk] = store.view((tx) => [tx.services.get('s1'), tx.tasks.get('t1')]);
  t.is(svc?.meta?.version?.index, '41');
  t.is(tk?.meta?.version?.index, '41');
  t.is(store.appliedIndex, 41);
  t.is(proposer.log.length, 1, 'one transaction is one proposal');
});

test('a throw inside an update rolls back every change the transaction made', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.services.create(service('s0', 'kept')));
  const err = await t.throwsAsync(
    store.update((tx) => {
      tx.services.create(service('s1', 'web'));
      tx.services.delete('s0');
      throw new Error('changed my mind');
    }),
  );
  t.is(err?.message, 'changed my mind');
  store.view((tx) => {
    t.is(tx.services.get('s1'), undefined);
    t.truthy(tx.services.get('s0'));
  });
});

test('changes are invisible to other readers until their entry commits', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  proposer.hold();
  const pending = store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.services.create(service('s2', 'db'));
  });
  await settle();
  t.is(proposer.heldCount, 1);
  t.deepEqual(store.view((tx) => tx.services.find()), [], 'nothing is applied before the quorum has it');
  proposer.release();
  await pending;
  t.deepEqual(
    store.view((tx) => tx.services.find().map((s) => s.id)),
    ['s1', 's2'],
  );
});

test('a transaction reads its own writes, including through indexes', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    t.is(tx.services.find(byName('WEB'))[0]?.id, 's1');
    tx.services.delete('s1');
    t.is(tx.services.get('s1'), undefined);
    t.deepEqual(tx.services.find(byName('web')), []);
  });
  t.deepEqual(store.view((tx) => tx.services.find()), []);
});

test('a write based on a stale read is refused with a Conflict and changes nothing', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  const read = store.view((tx) => tx.services.get('s1'));
  if (!read) return t.fail();
  // Someone else changes it first.
  await store.update((tx) => {
    const s = tx.services.get('s1');
    if (!s?.spec?.annotations) throw new Error('missing');
    s.spec.annotations.labels = { by: 'other' };
    tx.services.update(s);
  });
  const stale = { ...read, spec: { ...read.spec, annotations: { name: 'web', labels: { by: 'me' } } } };
  const err = await t.throwsAsync(store.update((tx) => void tx.services.update(stale)));
  t.true(isConflict(err), String(err));
  t.regex(err?.message ?? '', /changed after it was read.*retry/);
  t.deepEqual(store.view((tx) => tx.services.get('s1')?.spec?.annotations?.labels), { by: 'other' });
});

test('of two writers that read the same version, only the first write commits', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.tasks.create(task('t1', 's1', 1)));
  const read = store.view((tx) => tx.tasks.get('t1'));
  if (!read) return t.fail();
  const a = store.update((tx) => void tx.tasks.update({ ...read, node_id: 'n1' }));
  const b = store.update((tx) => void tx.tasks.update({ ...read, node_id: 'n2' }));
  await a;
  const err = await t.throwsAsync(b);
  t.true(isConflict(err));
  t.is(store.view((tx) => tx.tasks.get('t1')?.node_id), 'n1');
});

test('read-modify-write updates run one at a time, so none is lost', async (t) => {
  const store = new MemoryStore(new InMemoryProposer({ delayMs: 1 }));
  await store.update((tx) => void tx.nodes.create(node('n1', 'host1')));
  await Promise.all(
    Array.from({ length: 25 }, () =>
      store.update((tx) => {
        const n = tx.nodes.get('n1');
        if (!n?.spec) throw new Error('missing');
        const count = Number(n.spec.annotations?.labels.count ?? '0');
        n.spec.annotations = { name: '', labels: { count: String(count + 1) } };
        tx.nodes.update(n);
      }),
    ),
  );
  t.is(store.view((tx) => tx.nodes.get('n1')?.spec?.annotations?.labels.count), '25');
});

test('creating a taken id or a taken name is refused; updating or deleting a missing object is NotFound', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  t.true(isAlreadyExists(await t.throwsAsync(store.update((tx) => void tx.services.create(service('s1', 'other'))))));
  const nameErr = await t.throwsAsync(store.update((tx) => void tx.services.create(service('s2', 'Web'))));
  t.true(isAlreadyExists(nameErr));
  t.is(nameErr?.message, 'A service named Web already exists; choose another name.');
  t.true(isNotFound(await t.throwsAsync(store.update((tx) => void tx.services.update(service('nope', 'x'))))));
  const delErr = await t.throwsAsync(store.update((tx) => tx.services.delete('nope')));
  t.is(delErr?.message, 'No such service: nope.');
  // Tasks and nodes may share names.
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'same'));
    tx.nodes.create(node('n2', 'same'));
  });
  t.is(store.view((tx) => tx.nodes.find(byName('same')).length), 2);
});

test('a malformed object is refused with a message naming the field', async (t) => {
  const store = new MemoryStore();
  const bad = service('s1', 'web');
  (bad.spec as { task: { container: { image: unknown } } }).task.container.image = 5;
  const err = await t.throwsAsync(store.update((tx) => void tx.services.create(bad)));
  t.true(isInvalidArgument(err));
  t.is(err?.message, 'Invalid service: spec.task.container.image must be a string, not number 5.');
  const twoModes = service('s2', 'web2', {});
  (twoModes.spec as Record<string, unknown>).global = {};
  t.regex((await t.throwsAsync(store.update((tx) => void tx.services.create(twoModes))))?.message ?? '', /mode may have one of/);
  const noId = await t.throwsAsync(store.update((tx) => void tx.services.create(service('', 'x'))));
  t.regex(noId?.message ?? '', /needs a non-empty string id/);
  const badEnum = await t.throwsAsync(
    store.update((tx) => void tx.tasks.create({ ...task('t1', 's1', 1), desired_state: 'BOGUS' as 'NEW' })),
  );
  t.regex(badEnum?.message ?? '', /desired_state must be one of NEW, PENDING/);
  t.deepEqual(store.view((tx) => tx.services.find()), []);
});

test('an async callback is refused and its changes are discarded', async (t) => {
  const store = new MemoryStore();
  const err = await t.throwsAsync(store.update(async (tx) => void tx.services.create(service('s1', 'web'))));
  t.true(isInvalidArgument(err));
  t.deepEqual(store.view((tx) => tx.services.find()), []);
});

test('a transaction used after its callback returned throws', async (t) => {
  const store = new MemoryStore();
  let leaked: { services: { find(): unknown } } | undefined;
  store.view((tx) => {
    leaked = tx;
  });
  t.throws(() => leaked?.services.find(), { message: /used after its callback returned/ });
  await store.update((tx) => {
    leaked = tx;
  });
  t.throws(() => leaked?.services.find());
});

test('a failing proposer leaves the store unchanged: nothing unacknowledged is applied', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  const before = store.save();
  proposer.failNext();
  const err = await t.throwsAsync(store.update((tx) => {
    tx.services.create(service('s2', 'db'));
    tx.services.delete('s1');
  }));
  t.is(errorCode(err), 'Unavailable');
  t.deepEqual(store.save(), before);
  // The store keeps working after the failure.
  await store.update((tx) => void tx.services.create(service('s3', 'cache')));
  t.deepEqual(store.view((tx) => tx.services.find().map((s) => s.id)), ['s1', 's3']);
});

test('an abort while waiting for the commit rejects the update and applies nothing', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  proposer.hold();
  const ac = new AbortController();
  const p = store.update((tx) => void tx.services.create(service('s1', 'web')), { signal: ac.signal });
  await settle();
  ac.abort();
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.is((err as { name?: string } | undefined)?.name, 'AbortError');
  proposer.release();
  t.deepEqual(store.view((tx) => tx.services.find()), []);
  t.is(proposer.log.length, 0);
});

test('an entry whose outcome its writer never learnt is still applied everywhere once committed', async (t) => {
  const proposer = new InMemoryProposer();
  const leader = new MemoryStore(proposer);
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  proposer.failNextAfterCommit();
  await t.throwsAsync(leader.update((tx) => void tx.services.create(service('s1', 'web'))));
  t.truthy(leader.view((tx) => tx.services.get('s1')), 'committed means applied, whatever the caller heard');
  t.truthy(follower.view((tx) => tx.services.get('s1')));
});

test('replicas applying the same log end in identical states', async (t) => {
  const proposer = new InMemoryProposer();
  const leader = new MemoryStore(proposer, { now: () => new Date(1_700_000_000_123) });
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  await leader.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.nodes.create(node('n1', 'host1', 'MANAGER'));
  });
  proposer.skip(3); // conf changes and leader no-ops take indexes too
  await leader.update((tx) => {
    tx.tasks.create(task('t1', 's1', 1, { nodeId: 'n1' }));
    tx.secrets.create({ id: 'x1', spec: { annotations: { name: 'pw' }, data: Buffer.from('hunter2') } });
  });
  await leader.update((tx) => tx.nodes.delete('n1'));
  t.deepEqual(follower.save(), leader.save());
  t.is(follower.appliedIndex, leader.appliedIndex);
  const secret = follower.view((tx) => tx.secrets.get('x1'));
  t.is(Buffer.from(secret?.spec?.data ?? []).toString(), 'hunter2');
  t.deepEqual(secret?.meta?.created_at, { seconds: '1700000000', nanos: 123_000_000 });
  // Redelivering an applied entry changes nothing.
  const e = proposer.log[0];
  if (e) follower.applyCommitted(e.index, e.data);
  t.deepEqual(follower.save(), leader.save());
});

test('a write that lost the race to an entry from an earlier leader is refused on every replica', async (t) => {
  const proposer = new InMemoryProposer();
  const leader = new MemoryStore(proposer);
  const follower = new MemoryStore();
  proposer.onCommitted((e) => follower.applyCommitted(e.index, e.data));
  await leader.update((tx) => void tx.services.create(service('s1', 'web')));
  const read = leader.view((tx) => tx.services.get('s1'));
  if (!read) return t.fail();
  proposer.hold();
  const mine = leader.update((tx) => void tx.services.update({ ...read, pending_delete: true }));
  await settle();
  // An entry proposed by a previous leader commits ahead of ours.
  proposer.skip(1);
  const theirs = encodeActions([{ kind: 'update', table: 'services', object: { ...read, update_status: null } }]);
  leader.applyCommitted(proposer.lastIndex, theirs);
  follower.applyCommitted(proposer.lastIndex, theirs);
  proposer.release();
  t.true(isConflict(await t.throwsAsync(mine)));
  t.false(leader.view((tx) => tx.services.get('s1')?.pending_delete));
  t.deepEqual(follower.save(), leader.save());
});

test('an update larger than one proposal may hold is refused and points to batch', async (t) => {
  const store = new MemoryStore(undefined, { maxProposalBytes: 2048 });
  const err = await t.throwsAsync(
    store.update((tx) => {
      for (let i = 0; i < 50; i++) tx.services.create(service(`s${i}`, `web${i}`));
    }),
  );
  t.true(isInvalidArgument(err));
  t.regex(err?.message ?? '', /store\.batch\(\)/);
  t.deepEqual(store.view((tx) => tx.services.find()), []);
});

test('created_at is kept and updated_at advances on update', async (t) => {
  let now = 1_000_000;
  const store = new MemoryStore(undefined, { now: () => new Date(now) });
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  now += 5000;
  await store.update((tx) => {
    const s = tx.services.get('s1');
    if (s) tx.services.update(s);
  });
  const meta = store.view((tx) => tx.services.get('s1')?.meta);
  t.deepEqual(meta?.created_at, { seconds: '1000', nanos: 0 });
  t.deepEqual(meta?.updated_at, { seconds: '1005', nanos: 0 });
  t.is(meta?.version?.index, '2');
});

test('objects read from the store are private copies', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  const s = store.view((tx) => tx.services.get('s1'));
  if (!s?.spec?.annotations) return t.fail();
  s.spec.annotations.name = 'mutated';
  t.is(store.view((tx) => tx.services.get('s1')?.spec?.annotations?.name), 'web');
});
