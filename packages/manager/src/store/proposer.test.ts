import test from 'ava';
import { InMemoryProposer } from './proposer.js';
import { settle } from './test-fixtures.js';

const bytes = (n: number): Uint8Array => Uint8Array.from([n]);

test('the in-memory proposer commits at increasing indexes and tells every listener in order', async (t) => {
  const p = new InMemoryProposer({ firstIndex: 5 });
  const seen: number[] = [];
  const stop = p.onCommitted((e) => seen.push(e.index));
  t.deepEqual(await p.propose(bytes(1)), { index: 5 });
  p.skip(2);
  t.deepEqual(await p.propose(bytes(2)), { index: 8 });
  stop();
  await p.propose(bytes(3));
  t.deepEqual(seen, [5, 8]);
  t.deepEqual(p.log.map((e) => [e.index, e.data[0]]), [[5, 1], [8, 2], [9, 3]]);
});

test('held proposals commit in arrival order on release; an aborted one never commits', async (t) => {
  const p = new InMemoryProposer();
  p.hold();
  const ac = new AbortController();
  const a = p.propose(bytes(1));
  const b = p.propose(bytes(2), ac.signal);
  const c = p.propose(bytes(3));
  await settle();
  t.is(p.heldCount, 3);
  ac.abort();
  const bErr: unknown = await b.then(() => undefined, (e: unknown) => e);
  t.is((bErr as { name?: string }).name, 'AbortError');
  p.release();
  t.deepEqual(await Promise.all([a, c]), [{ index: 1 }, { index: 2 }]);
  t.deepEqual(p.log.map((e) => e.data[0]), [1, 3]);
});

test('the in-memory proposer fails as told: before commit, after commit, or always', async (t) => {
  const p = new InMemoryProposer();
  p.failNext(new Error('nope'));
  await t.throwsAsync(p.propose(bytes(1)), { message: 'nope' });
  t.is(p.log.length, 0);
  p.failNextAfterCommit(new Error('timed out'));
  await t.throwsAsync(p.propose(bytes(2)), { message: 'timed out' });
  t.is(p.log.length, 1, 'committed although the caller was told otherwise');
  p.failAll(new Error('no leader'));
  await t.throwsAsync(p.propose(bytes(3)), { message: 'no leader' });
  p.failAll(undefined);
  t.deepEqual(await p.propose(bytes(4)), { index: 2 });
});
