import test from 'ava';
import { lostWrites } from './checks.js';
import type { WriteRecord } from './workload.js';

const w = (key: string, op: 'put' | 'append', value: string, outcome: WriteRecord['outcome'], call: number, ret = Infinity): WriteRecord => ({
  key,
  op,
  value,
  outcome,
  call,
  ret: outcome === 'info' ? Infinity : ret,
});

test('an acknowledged append missing from the final value is reported as lost', (t) => {
  const writes = [w('k0', 'append', '0.0;', 'ok', 0, 1), w('k0', 'append', '1.0;', 'ok', 2, 3), w('k0', 'append', '2.0;', 'info', 4)];
  t.deepEqual(lostWrites(writes, new Map([['k0', '0.0;1.0;']])), []);
  t.regex(lostWrites(writes, new Map([['k0', '0.0;2.0;']])).join(), /acknowledged append 1\.0; is missing/);
});

test('an append applied twice or after a definite failure is reported', (t) => {
  const writes = [w('k0', 'append', '0.0;', 'ok', 0, 1), w('k0', 'append', '1.0;', 'fail', 2, 3)];
  t.regex(lostWrites(writes, new Map([['k0', '0.0;0.0;']])).join(), /applied 2 times/);
  t.regex(lostWrites(writes, new Map([['k0', '0.0;1.0;']])).join(), /told it failed/);
  t.regex(lostWrites(writes, new Map([['k0', '0.0;9.9;']])).join(), /no client wrote/);
});

test('a put replaced by an older one is reported as a lost write', (t) => {
  const writes = [w('k1', 'put', '0.0;', 'ok', 0, 1), w('k1', 'put', '1.0;', 'ok', 2, 3), w('k1', 'put', '2.0;', 'info', 0.5)];
  t.deepEqual(lostWrites(writes, new Map([['k1', '1.0;']])), []);
  // The unknown put may land last.
  t.deepEqual(lostWrites(writes, new Map([['k1', '2.0;']])), []);
  t.regex(lostWrites(writes, new Map([['k1', '0.0;']])).join(), /acknowledged put 1\.0; .* was lost/);
  t.regex(lostWrites(writes, new Map([['k1', '']])).join(), /reads empty/);
});
