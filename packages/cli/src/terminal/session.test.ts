import test from 'ava';
import { UsageError } from '../cli-error.js';
import { DetachMatcher, parseDetachKeys } from './session.js';

test('detach keys default to ctrl-p ctrl-q and parse docker forms', (t) => {
  t.deepEqual(parseDetachKeys(undefined), [0x10, 0x11]);
  t.deepEqual(parseDetachKeys('ctrl-a,x'), [1, 0x78]);
  t.deepEqual(parseDetachKeys('ctrl-@,ctrl-['), [0, 27]);
  t.throws(() => parseDetachKeys('ctrl-pp'), { instanceOf: UsageError });
});

test('the detach sequence is swallowed and detaches, even split across reads', (t) => {
  const m = new DetachMatcher([0x10, 0x11]);
  let r = m.feed(Buffer.from([0x61, 0x10]));
  t.deepEqual([...r.forward], [0x61]);
  t.false(r.detach);
  r = m.feed(Buffer.from([0x11]));
  t.true(r.detach);
  t.is(r.forward.length, 0);
});

test('a partial sequence followed by other input is forwarded as typed', (t) => {
  const m = new DetachMatcher([0x10, 0x11]);
  const r = m.feed(Buffer.from([0x10, 0x62, 0x10, 0x10, 0x11]));
  t.deepEqual([...r.forward], [0x10, 0x62, 0x10]);
  t.true(r.detach);
});
