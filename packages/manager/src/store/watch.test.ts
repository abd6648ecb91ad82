import test from 'ava';
import { errorCode } from '@shoal/api';
import { MemoryStore } from './memory-store.js';
import { InMemoryProposer } from './proposer.js';
import { byService } from './selectors.js';
import type { StoreEvent } from './watch.js';
import { node, rng, service, settle, task } from './test-fixtures.js';

test('a transaction yields one event per object changed, then one commit event', async (t) => {
  const store = new MemoryStore();
  await store.update((tx) => void tx.services.create(service('s1', 'web')));
  const w = store.watch();
  await store.update((tx) => {
    tx.tasks.create(task('t1', 's1', 1));
    const s = tx.services.get('s1');
    if (s) tx.services.update({ ...s, pending_delete: true });
  });
  await store.update((tx) => tx.tasks.delete('t1'));
  const events = w.drain();
  t.deepEqual(
    events.map((e) => (e.kind === 'commit' ? `commit@${e.version}` : `${e.kind} ${e.table}/${e.object.id}@${e.version}`)),
    ['create tasks/t1@2', 'update services/s1@2', 'commit@2', 'delete tasks/t1@3', 'commit@3'],
  );
  const upd = events[1];
  if (upd?.kind !== 'update' || upd.table !== 'services') return t.fail();
  t.false(upd.old?.pending_delete);
  t.true(upd.object.pending_delete);
  t.is(upd.object.meta?.version?.index, '2');
  t.throws(() => {
    (upd.object as { id: string }).id = 'x';
  }, { instanceOf: TypeError }, 'event objects are shared, so they are frozen');
});

test('a watcher gets only the events its filter matches', async (t) => {
  const store = new MemoryStore();
  const tasksOnly = store.watch({ tables: ['tasks'], kinds: ['create'] });
  const ofService = store.watch((e) => e.kind !== 'commit' && e.table === 'tasks' && e.object.service_id === 's2');
  const commits = store.watch({ kinds: ['commit'] });
  await store.update((tx) => {
    tx.services.create(service('s1', 'web'));
    tx.tasks.create(task('t1', 's1', 1));
    tx.tasks.create(task('t2', 's2', 1));
  });
  t.deepEqual(tasksOnly.drain().map((e) => (e.kind === 'commit' ? 'commit' : e.object.id)), ['t1', 't2']);
  t.deepEqual(ofService.drain().map((e) => (e.kind === 'commit' ? 'commit' : e.object.id)), ['t2']);
  t.deepEqual(commits.drain(), [{ kind: 'commit', version: 1, changes: 3 }]);
});

test('a watcher that falls behind its buffer is closed with an error and the store carries on', async (t) => {
  const store = new MemoryStore(undefined, { watchBufferSize: 1000 });
  const slow = store.watch(undefined, { bufferSize: 5 });
  const fine = store.watch();
  for (let i = 0; i < 4; i++) await store.update((tx) => void tx.tasks.create(task(`t${i}`, 's1', i)));
  // 4 creates + 4 commits: over the bound of 5.
  t.true(slow.closed);
  const err = await t.throwsAsync(slow.next());
  t.is(errorCode(err), 'Unavailable');
  t.regex(err?.message ?? '', /fell more than 5 events behind.*viewAndWatch/);
  t.is(fine.drain().length, 8);
  t.is(store.view((tx) => tx.tasks.find().length), 4);
});

test('a watcher waiting for events is woken by a commit, and ends when its signal aborts', async (t) => {
  const store = new MemoryStore();
  const ac = new AbortController();
  const w = store.watch({ tables: ['nodes'] }, { signal: ac.signal });
  const seen: string[] = [];
  const reader = (async () => {
    for await (const e of w) if (e.kind !== 'commit') seen.push(e.object.id);
  })();
  await store.update((tx) => void tx.nodes.create(node('n1', 'a')));
  await store.update((tx) => void tx.nodes.create(node('n2', 'b')));
  await settle();
  ac.abort();
  await reader;
  t.deepEqual(seen, ['n1', 'n2']);
  t.true(w.closed);
});

const sorted = (m: Mirror): Array<[string, string]> => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

// The state a consumer rebuilds from a view plus the events after it.
type Mirror = Map<string, string>;

function applyEvent(m: Mirror, e: StoreEvent): void {
  if (e.kind === 'commit' || e.table !== 'tasks') return;
  if (e.kind === 'delete') m.delete(e.object.id);
  else m.set(e.object.id, e.object.node_id);
}

test('viewAndWatch loses and repeats no event under concurrent updates', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = rng(seed);
    const proposer = new InMemoryProposer();
    const store = new MemoryStore(proposer);
    const watchers: Array<{ mirror: Mirror; since: number; w: ReturnType<MemoryStore['watch']> }> = [];
    const writes: Promise<void>[] = [];
    for (let step = 0; step < 120; step++) {
      const id = `t${Math.floor(random() * 15)}`;
      writes.push(
        store.update((tx) => {
          const cur = tx.tasks.get(id);
          if (!cur) tx.tasks.create(task(id, 's1', step));
          else if (random() < 0.3) tx.tasks.delete(id);
          else tx.tasks.update({ ...cur, node_id: `n${step}` });
        }),
      );
      if (random() < 0.2) {
        // Start a consumer at an arbitrary point while updates are in flight.
        const { result, watcher } = store.viewAndWatch(
          (tx) => ({ tasks: tx.tasks.find(byService('s1')), at: store.appliedIndex }),
          { tables: ['tasks'] },
        );
        watchers.push({ mirror: new Map(result.tasks.map((x) => [x.id, x.node_id])), since: result.at, w: watcher });
      }
      if (random() < 0.5) await settle();
    }
    await Promise.all(writes);
    const truth = new Map(store.view((tx) => tx.tasks.find()).map((x) => [x.id, x.node_id]));
    t.true(watchers.length > 5, `seed ${seed}: enough consumers started`);
    for (const { mirror, since, w } of watchers) {
      const events = w.drain();
      const versions = events.filter((e) => e.kind === 'commit').map((e) => e.version);
      t.true(versions.every((v) => v > since), `seed ${seed}: no event from before the view`);
      t.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b), `seed ${seed}: none repeated, in order`);
      for (const e of events) applyEvent(mirror, e);
      t.deepEqual(sorted(mirror), sorted(truth), `seed ${seed}: view + events = final state`);
    }
  }
});

test('a watcher holding a long queue hands out every event once, in order, through next and drain', async (t) => {
  const store = new MemoryStore();
  const w = store.watch({ tables: ['tasks'], kinds: ['create'] }, { bufferSize: 1 << 20 });
  const total = 60_000;
  let created = 0;
  const createSome = (n: number): Promise<unknown> =>
    store.batch((b) => {
      for (let i = 0; i < n; i++) {
        const id = `t${String(created++).padStart(6, '0')}`;
        b.update((tx) => void tx.tasks.create(task(id, 's1', 1)));
      }
    });
  await createSome(total / 2);
  t.is(w.pending, total / 2);
  const seen: string[] = [];
  const read = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await w.next();
      if (r.done || r.value.kind === 'commit') return t.fail();
      seen.push(r.value.object.id);
    }
  };
  await read(20_000);
  t.is(w.pending, total / 2 - 20_000);
  // More arrive while the reader is part-way through the queue.
  await createSome(total / 2);
  await read(15_000);
  for (const e of w.drain()) if (e.kind !== 'commit') seen.push(e.object.id);
  t.is(w.pending, 0);
  t.is(seen.length, total);
  t.true(seen.every((id, i) => id === `t${String(i).padStart(6, '0')}`), 'every event once, in order');
  // Empty again: next waits for the next event.
  const waiting = w.next();
  await store.update((tx) => void tx.tasks.create(task('last', 's1', 1)));
  const r = await waiting;
  t.is(r.done ? undefined : r.value.kind === 'commit' ? 'commit' : r.value.object.id, 'last');
  w.close();
});
