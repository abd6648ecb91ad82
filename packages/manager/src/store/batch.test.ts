import test from 'ava';
import { errorCode, isInvalidArgument, isNotFound } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import { InMemoryProposer } from './proposer.js';
import { decodeActions } from './codec.js';
import { service, task } from './test-fixtures.js';

test('a large batch is split into proposals of at most maxChangesPerProposal changes, each applied whole', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer, { maxChangesPerProposal: 200 });
  const w = store.watch({ kinds: ['commit'] });
  const result = await store.batch((b) => {
    for (let i = 0; i < 450; i++) b.update((tx) => void tx.tasks.create(task(`t${i}`, 's1', i)));
  });
  t.deepEqual(result, { succeeded: 450, failed: [], proposals: 3 });
  t.deepEqual(proposer.log.map((e) => decodeActions(e.data).length), [200, 200, 50]);
  t.deepEqual(w.drain().map((e) => (e.kind === 'commit' ? e.changes : 0)), [200, 200, 50]);
  t.is(store.view((tx) => tx.tasks.find().length), 450);
});

test('a batch never puts more than maxProposalBytes in one proposal', async (t) => {
  const proposer = new InMemoryProposer();
  const max = 8 * 1024;
  const store = new MemoryStore(proposer, { maxProposalBytes: max });
  const big = 'x'.repeat(700);
  const result = await store.batch((b) => {
    for (let i = 0; i < 60; i++) {
      b.update((tx) => void tx.services.create(service(`s${i}`, `svc${i}`, { spec: { annotations: { name: `svc${i}`, labels: { big } } } })));
    }
  });
  t.is(result.succeeded, 60);
  t.true(result.proposals > 1);
  for (const e of proposer.log) t.true(e.data.length <= max, `entry ${e.index} is ${e.data.length} bytes`);
  t.is(store.view((tx) => tx.services.find().length), 60);
});

test('a batch callback that throws is rolled back alone; the others commit', async (t) => {
  const store = new MemoryStore();
  const result = await store.batch((b) => {
    b.update((tx) => void tx.tasks.create(task('t1', 's1', 1)));
    b.update((tx) => {
      tx.tasks.create(task('t2', 's1', 2));
      tx.tasks.delete('missing'); // throws NotFound after a change
    });
    b.update((tx) => void tx.tasks.create(task('t3', 's1', 3)));
  });
  t.is(result.succeeded, 2);
  t.is(result.failed.length, 1);
  t.is(result.failed[0]?.position, 1);
  t.true(isNotFound(result.failed[0]?.error));
  t.deepEqual(store.view((tx) => tx.tasks.find().map((x) => x.id)), ['t1', 't3']);
});

test('later batch callbacks see the changes of earlier ones, across proposals', async (t) => {
  const store = new MemoryStore(undefined, { maxChangesPerProposal: 2 });
  const result = await store.batch((b) => {
    for (let i = 0; i < 5; i++) {
      b.update((tx) => {
        const n = tx.tasks.find().length;
        tx.tasks.create(task(`t${n}`, 's1', n));
      });
    }
  });
  t.is(result.proposals, 3);
  t.deepEqual(store.view((tx) => tx.tasks.find().map((x) => x.id)), ['t0', 't1', 't2', 't3', 't4']);
});

test('a batch callback too large for any proposal fails on its own', async (t) => {
  const store = new MemoryStore(undefined, { maxChangesPerProposal: 3 });
  const result = await store.batch((b) => {
    b.update((tx) => {
      for (let i = 0; i < 4; i++) tx.tasks.create(task(`big${i}`, 's1', i));
    });
    b.update((tx) => void tx.tasks.create(task('small', 's1', 9)));
  });
  t.is(result.failed.length, 1);
  t.true(isInvalidArgument(result.failed[0]?.error));
  t.deepEqual(store.view((tx) => tx.tasks.find().map((x) => x.id)), ['small']);
});

test('when a proposal of a batch fails, the ones before it stay committed and the batch rejects', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer, { maxChangesPerProposal: 10 });
  let calls = 0;
  const realPropose = proposer.propose.bind(proposer);
  proposer.propose = (data, signal) => {
    if (++calls === 2) proposer.failNext();
    return realPropose(data, signal);
  };
  const err = await t.throwsAsync(
    store.batch((b) => {
      for (let i = 0; i < 25; i++) b.update((tx) => void tx.tasks.create(task(`t${i}`, 's1', i)));
    }),
  );
  t.is(errorCode(err), 'Unavailable');
  t.is(store.view((tx) => tx.tasks.find().length), 10);
});

test('other updates can run between the proposals of a batch', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer, { maxChangesPerProposal: 5 });
  const batch = store.batch((b) => {
    for (let i = 0; i < 15; i++) b.update((tx) => void tx.tasks.create(task(`t${i}`, 's1', i)));
  });
  const single = store.update((tx) => void tx.services.create(service('s1', 'web')));
  await Promise.all([batch, single]);
  const order = proposer.log.map((e) => decodeActions(e.data)[0]?.table);
  t.deepEqual(order, ['tasks', 'services', 'tasks', 'tasks']);
});

test('a batch callback that throws after changing objects earlier callbacks wrote restores their changes, keeping the order', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer);
  await store.update((tx) => void tx.tasks.create(task('t0', 's1', 0)));
  const result = await store.batch((b) => {
    b.update((tx) => void tx.tasks.create(task('t1', 's1', 1, { nodeId: 'n1' })));
    b.update((tx) => {
      const t0 = tx.tasks.get('t0');
      if (t0) tx.tasks.update({ ...t0, node_id: 'n1' });
    });
    b.update((tx) => {
      const t1 = tx.tasks.get('t1');
      if (t1) tx.tasks.update({ ...t1, node_id: 'n2' });
      tx.tasks.delete('t0');
      tx.tasks.create(task('t2', 's1', 2));
      throw new Error('changed my mind');
    });
    b.update((tx) => void tx.tasks.create(task('t3', 's1', 3)));
  });
  t.deepEqual({ succeeded: result.succeeded, failed: result.failed.map((f) => f.position), proposals: result.proposals }, {
    succeeded: 3,
    failed: [2],
    proposals: 1,
  });
  const entry = proposer.log.at(-1);
  if (!entry) return t.fail();
  t.deepEqual(
    decodeActions(entry.data).map((a) => `${a.kind} ${a.object.id} ${(a.object as { node_id: string }).node_id}`),
    ['create t1 n1', 'update t0 n1', 'create t3 '],
  );
  t.deepEqual(store.view((tx) => tx.tasks.find().map((x) => `${x.id}@${x.node_id}`)), ['t0@n1', 't1@n1', 't3@']);
});

test('a batch keeps each callback whole in one proposal while others roll back around it', async (t) => {
  const proposer = new InMemoryProposer();
  const store = new MemoryStore(proposer, { maxChangesPerProposal: 5 });
  const result = await store.batch((b) => {
    for (let i = 0; i < 45; i++) {
      b.update((tx) => {
        tx.tasks.create(task(`a${i}`, 's1', i));
        tx.tasks.create(task(`b${i}`, 's1', i));
        if (i % 7 === 3) throw new Error('no');
      });
    }
  });
  t.deepEqual(result.failed.map((f) => f.position), [3, 10, 17, 24, 31, 38]);
  t.is(result.succeeded, 39);
  const entries = proposer.log.map((e) => decodeActions(e.data).map((a) => a.object.id));
  t.is(result.proposals, entries.length);
  for (const ids of entries) {
    t.true(ids.length <= 5);
    for (const id of ids) if (id.startsWith('a')) t.true(ids.includes(`b${id.slice(1)}`), `${id} and its pair share an entry`);
  }
  t.is(entries.flat().length, 78);
  t.is(store.view((tx) => tx.tasks.find().length), 78);
});
