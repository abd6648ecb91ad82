import test from 'ava';
import { checkOperations, checkOperationsSync } from './checker.js';
import { kvModel } from './kv-model.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { LincheckInputError } from './model.js';
import type { Operation } from './model.js';
import { makeRegisterModel, registerModel } from './register-model.js';
import type { RegisterInput, RegisterOutput, RegisterValue } from './register-model.js';

type RegOp = Operation<RegisterInput, RegisterOutput>;
const write = (clientId: number, value: RegisterValue, call: number, ret: number): RegOp => ({ clientId, input: { op: 'write', value }, call, output: {}, return: ret });
const read = (clientId: number, value: RegisterValue, call: number, ret: number): RegOp => ({ clientId, input: { op: 'read' }, call, output: { value }, return: ret });
const cas = (clientId: number, from: RegisterValue, to: RegisterValue, ok: boolean, call: number, ret: number): RegOp => ({ clientId, input: { op: 'cas', from, to }, call, output: { ok }, return: ret });
const unknown = (op: RegOp): RegOp => ({ ...op, output: undefined, return: Infinity });
const verdict = (history: RegOp[]): string => checkOperationsSync(registerModel, history).result;

test('an empty history is linearizable', (t) => {
  t.is(verdict([]), 'ok');
});

test('a read after a completed write that returns the old value (a stale read) is not linearizable', (t) => {
  t.is(verdict([write(0, 1, 0, 10), read(1, null, 20, 30)]), 'illegal');
  t.is(verdict([write(0, 1, 0, 10), write(0, 2, 11, 15), read(1, 1, 20, 30)]), 'illegal');
});

test('a read concurrent with a write may see either the old or the new value', (t) => {
  t.is(verdict([write(0, 1, 0, 10), read(1, null, 5, 15)]), 'ok');
  t.is(verdict([write(0, 1, 0, 10), read(1, 1, 5, 15)]), 'ok');
  t.is(verdict([write(0, 1, 0, 10), read(1, 2, 5, 15)]), 'illegal', 'a value never written');
});

test('two concurrent reads cannot see the new value and then the old one in real-time order', (t) => {
  // The 6.824 quiz example: once a read has returned the new value, a later read cannot return the old.
  t.is(verdict([write(0, 100, 0, 100), read(1, 100, 25, 75), read(2, null, 30, 60)]), 'ok');
  t.is(verdict([write(0, 200, 0, 100), read(1, 200, 10, 30), read(2, null, 40, 90)]), 'illegal');
});

test('operations whose intervals touch count as concurrent', (t) => {
  t.is(verdict([write(0, 1, 0, 10), read(1, null, 10, 20)]), 'ok');
});

test('a successful cas needs the register to hold its from value, a failed one needs it not to', (t) => {
  t.is(verdict([write(0, 1, 0, 1), cas(0, 1, 2, true, 2, 3), read(0, 2, 4, 5)]), 'ok');
  t.is(verdict([write(0, 1, 0, 1), cas(0, 3, 2, true, 2, 3)]), 'illegal', 'cas succeeded against the wrong value');
  t.is(verdict([write(0, 1, 0, 1), cas(0, 1, 2, false, 2, 3)]), 'illegal', 'cas failed although the value matched');
  t.is(verdict([write(0, 1, 0, 1), cas(0, 5, 2, false, 2, 3), read(0, 1, 4, 5)]), 'ok');
  t.is(verdict([cas(0, null, 7, true, 0, 1), read(0, 7, 2, 3)]), 'ok', 'cas from nil on a fresh register');
});

test('a write with an unknown outcome may take effect late, or never', (t) => {
  const lost = unknown(write(0, 1, 0, 1));
  t.is(verdict([lost, read(1, null, 5, 6)]), 'ok', 'never happened');
  t.is(verdict([lost, read(1, null, 5, 6), read(1, 1, 7, 8)]), 'ok', 'happened between the reads');
  t.is(verdict([lost, read(1, 1, 5, 6), read(1, null, 7, 8)]), 'illegal', 'cannot be undone');
  t.is(verdict([read(1, 1, 0, 1), unknown(write(0, 1, 5, 6))]), 'illegal', 'cannot take effect before its call');
});

test('a cas with an unknown outcome takes effect only if its compare held', (t) => {
  const maybe = unknown(cas(0, 1, 2, true, 2, 3));
  t.is(verdict([write(1, 1, 0, 1), maybe, read(1, 2, 10, 11)]), 'ok');
  t.is(verdict([write(1, 5, 0, 1), maybe, read(1, 2, 10, 11)]), 'illegal');
});

test('a read with an unknown outcome constrains nothing', (t) => {
  t.is(verdict([write(0, 1, 0, 1), unknown(read(1, 99, 2, 3))]), 'ok');
});

test('the register model can start from a given value', (t) => {
  t.is(checkOperationsSync(makeRegisterModel(0), [read(0, 0, 0, 1)]).result, 'ok');
  t.is(checkOperationsSync(makeRegisterModel(0), [read(0, null, 0, 1)]).result, 'illegal');
});

test('a not-linearizable result explains itself with the longest linearizable prefix', (t) => {
  const r = checkOperationsSync(registerModel, [write(0, 1, 0, 10), write(0, 2, 11, 15), read(1, 1, 20, 30)]);
  t.is(r.result, 'illegal');
  t.truthy(r.counterexample);
  t.is(r.counterexample!.longestPrefix.length, 2);
  const text = r.counterexample!.describe();
  t.regex(text, /write\(1\)/);
  t.regex(text, /read\(\) -> 1/);
});

type KvOp = Operation<KvInput, KvOutput>;
const kv = (clientId: number, input: KvInput, value: string | undefined, call: number, ret: number): KvOp => ({
  clientId,
  input,
  call,
  output: input.op === 'get' ? { value: value ?? '' } : {},
  return: ret,
});

test('the kv model checks each key on its own and appends in order', async (t) => {
  const ok = [
    kv(0, { op: 'append', key: 'a', value: 'x' }, undefined, 0, 2),
    kv(1, { op: 'append', key: 'a', value: 'y' }, undefined, 1, 3),
    kv(2, { op: 'put', key: 'b', value: 'z' }, undefined, 0, 1),
    kv(0, { op: 'get', key: 'a' }, 'yx', 4, 5),
    kv(2, { op: 'get', key: 'b' }, 'z', 4, 5),
    kv(2, { op: 'get', key: 'c' }, '', 6, 7),
  ];
  const r = await checkOperations(kvModel, ok);
  t.is(r.result, 'ok');
  t.is(r.parts, 3);
  const bad = [...ok, kv(1, { op: 'get', key: 'a' }, 'xy', 6, 7)];
  const r2 = await checkOperations(kvModel, bad);
  t.is(r2.result, 'illegal');
  t.is(r2.counterexample?.partLabel, 'key "a"');
});

/** 22 fully concurrent writes, then an impossible read: millions of orders and states to rule out. */
function hardHistory(): RegOp[] {
  const ops: RegOp[] = [];
  for (let i = 0; i < 22; i++) ops.push(write(i, i, i, 100));
  ops.push(read(100, 999, 200, 201));
  return ops;
}

test('many writes with unknown outcomes before an impossible read are refuted quickly', (t) => {
  // Each unknown write may or may not have happened, in any order: naive search is exponential.
  const ops: RegOp[] = [];
  for (let i = 0; i < 40; i++) ops.push(unknown(write(i, i, i, i + 1)));
  for (let i = 0; i < 40; i++) ops.push(read(100, i % 2 === 0 ? 1000 + i : i, 100 + 2 * i, 101 + 2 * i));
  const r = checkOperationsSync(registerModel, ops, { timeoutMs: 5000 });
  t.is(r.result, 'illegal');
  t.log(`${r.elapsedMs.toFixed(1)} ms`);
});

test('many writes with unknown outcomes that explain a run of reads are accepted quickly', (t) => {
  const ops: RegOp[] = [];
  for (let i = 0; i < 40; i++) ops.push(unknown(write(i, i, i, i + 1)));
  for (let i = 0; i < 40; i++) ops.push(read(100, 39 - i, 100 + 2 * i, 101 + 2 * i));
  const r = checkOperationsSync(registerModel, ops, { timeoutMs: 5000 });
  t.is(r.result, 'ok');
  t.log(`${r.elapsedMs.toFixed(1)} ms`);
});

test('a search that runs past its time-out gives up with unknown', async (t) => {
  const started = performance.now();
  const r = await checkOperations(registerModel, hardHistory(), { timeoutMs: 50 });
  t.is(r.result, 'unknown');
  t.is(r.reason, 'timeout');
  t.true(performance.now() - started < 2000);
});

test('an aborted search gives up with unknown', async (t) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  const r = await checkOperations(registerModel, hardHistory(), { signal: controller.signal });
  t.is(r.result, 'unknown');
  t.is(r.reason, 'aborted');
});

test('a part found illegal is reported even while another part is still being searched', async (t) => {
  // Key "slow" cannot finish within the budget (see hardHistory); key "bad" is illegal at once.
  const slow: KvOp[] = [];
  for (let i = 0; i < 22; i++) slow.push(kv(i, { op: 'put', key: 'slow', value: `v${i}` }, undefined, i, 100));
  slow.push(kv(100, { op: 'get', key: 'slow' }, 'never', 200, 201));
  const bad = [kv(0, { op: 'put', key: 'bad', value: '1' }, undefined, 0, 1), kv(0, { op: 'get', key: 'bad' }, '2', 2, 3)];
  const r = await checkOperations(kvModel, [...slow, ...bad], { timeoutMs: 5000 });
  t.is(r.result, 'illegal');
  t.is(r.counterexample?.partLabel, 'key "bad"');
});

test('an operation that returns before it is called is refused', (t) => {
  const err = t.throws(() => checkOperationsSync(registerModel, [write(0, 1, 10, 5)]));
  t.true(err instanceof LincheckInputError);
  t.regex(err.message, /before its call/);
});

/** Tries every order that respects real time; unknown outcomes may also be left out. */
function exhaustive(history: RegOp[]): boolean {
  const search = (remaining: RegOp[], state: RegisterValue): boolean => {
    if (remaining.every((op) => op.output === undefined)) return true;
    const earliestReturn = Math.min(...remaining.map((op) => op.return));
    return remaining.some((op, i) => {
      if (op.call > earliestReturn) return false;
      const r = registerModel.step(state, op.input, op.output);
      return r.ok && search([...remaining.slice(0, i), ...remaining.slice(i + 1)], r.state);
    });
  };
  return search(history, null);
}

function randomHistory(next: () => number, size: number): RegOp[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  const values: RegisterValue[] = [null, 1, 2];
  const clientTime = [0, 0, 0];
  const raw = Array.from({ length: size }, (_, k) => {
    const clientId = k % 3;
    const call = clientTime[clientId]! + Math.floor(next() * 4);
    const ret = call + 1 + Math.floor(next() * 6);
    clientTime[clientId] = ret + 1;
    const kind = pick(['read', 'read', 'write', 'cas'] as const);
    const input: RegisterInput = kind === 'read' ? { op: 'read' } : kind === 'write' ? { op: 'write', value: pick(values) } : { op: 'cas', from: pick(values), to: pick(values) };
    return { clientId, call, ret, at: call + next() * (ret - call), input };
  });
  // Outputs from a real sequential run at random points inside each interval, then some corrupted.
  let state: RegisterValue = null;
  const ops: RegOp[] = [];
  for (const o of raw.slice().sort((a, b) => a.at - b.at)) {
    const r: RegisterOutput = o.input.op === 'read' ? { value: state } : o.input.op === 'write' ? {} : { ok: o.input.from === state };
    const out: RegisterOutput = next() < 0.15 ? (o.input.op === 'cas' ? { ok: !r.ok } : { value: pick(values) }) : r;
    state = registerModel.step(state, o.input, r).state;
    const lost = next() < (o.input.op === 'read' ? 0.05 : 0.4);
    ops.push({ clientId: o.clientId, input: o.input, call: o.call, output: lost ? undefined : out, return: lost ? Infinity : o.ret });
  }
  return ops;
}

test('the checker agrees with an exhaustive search on 2,500 random small histories', (t) => {
  let seed = 42;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  let illegal = 0;
  for (let k = 0; k < 2500; k++) {
    const history = randomHistory(next, 3 + (k % 10));
    const expected = exhaustive(history);
    const got = checkOperationsSync(registerModel, history).result;
    if (got !== (expected ? 'ok' : 'illegal')) {
      t.fail(`history ${k}: checker says ${got}, exhaustive search says ${expected}: ${JSON.stringify(history)}`);
      return;
    }
    if (!expected) illegal++;
  }
  // Both verdicts must be well represented for the comparison to mean anything.
  t.true(illegal > 500 && illegal < 2000, `${illegal} of 2500 not linearizable`);
});
