import test from 'ava';
import { Bitset } from './bitset.js';

test('a bitset holds members across word boundaries and counts them', (t) => {
  const b = new Bitset(100);
  for (const i of [0, 31, 32, 63, 64, 99]) b.set(i);
  t.true(b.has(31) && b.has(32) && b.has(99));
  t.false(b.has(1) || b.has(33) || b.has(98));
  t.is(b.popcount(), 6);
  t.deepEqual([...b.members()], [0, 31, 32, 63, 64, 99]);
  b.clear(32).clear(32);
  t.false(b.has(32));
  t.is(b.popcount(), 5);
});

test('equal sets have equal hashes whatever the order they were built in', (t) => {
  const a = new Bitset(3000);
  const b = new Bitset(3000);
  for (const i of [5, 2900, 77, 1024]) a.set(i);
  for (const i of [1024, 77, 5, 2900, 13]) b.set(i);
  t.false(a.equals(b));
  b.clear(13);
  t.true(a.equals(b));
  t.is(a.hash(), b.hash());
});

test('a clone is independent of its original', (t) => {
  const a = new Bitset(64).set(3);
  const c = a.clone();
  t.true(c.equals(a));
  c.set(40);
  t.false(a.has(40));
  t.false(c.equals(a));
  t.not(c.hash(), a.hash());
});

test('hashes of the subsets of a 2,000-member set rarely collide', (t) => {
  const b = new Bitset(2000);
  const seen = new Set<number>();
  // The prefixes {0}, {0,1}, ... are exactly the shapes the checker's cache sees.
  for (let i = 0; i < 2000; i++) seen.add(b.set(i).hash());
  t.true(seen.size >= 1995, `${seen.size} distinct hashes`);
});
