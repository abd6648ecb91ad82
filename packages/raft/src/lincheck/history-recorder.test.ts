import test from 'ava';
import { checkOperationsSync } from './checker.js';
import { HistoryRecorder } from './history-recorder.js';
import { LincheckInputError } from './model.js';
import { registerModel } from './register-model.js';
import type { RegisterInput, RegisterOutput } from './register-model.js';

function fakeClock(times: number[]): () => number {
  let i = 0;
  return () => times[Math.min(i++, times.length - 1)]!;
}

test('the recorder stamps calls and returns with the injected clock', (t) => {
  const r = new HistoryRecorder<RegisterInput, RegisterOutput>({ clock: fakeClock([1, 2, 3, 4]) });
  const a = r.invoke(0, { op: 'write', value: 1 });
  const b = r.invoke(1, { op: 'read' });
  r.ok(a, {});
  r.ok(b, { value: 1 });
  t.deepEqual(r.operations(), [
    { clientId: 0, input: { op: 'write', value: 1 }, call: 1, output: {}, return: 3 },
    { clientId: 1, input: { op: 'read' }, call: 2, output: { value: 1 }, return: 4 },
  ]);
});

test('a clock that goes backwards never makes an operation return before its call', (t) => {
  const r = new HistoryRecorder<RegisterInput, RegisterOutput>({ clock: fakeClock([10, 5]) });
  const a = r.invoke(0, { op: 'read' });
  r.ok(a, { value: null });
  const [op] = r.operations();
  t.is(op!.call, 10);
  t.is(op!.return, 10);
});

test('info records an unknown outcome, fail drops the operation, and unfinished ones are unknown', (t) => {
  const r = new HistoryRecorder<RegisterInput, RegisterOutput>({ clock: fakeClock([1, 2, 3, 4, 5, 6]) });
  const lost = r.invoke(0, { op: 'write', value: 1 });
  const refused = r.invoke(1, { op: 'write', value: 2 });
  r.info(lost);
  r.fail(refused);
  r.invoke(2, { op: 'write', value: 3 });
  const ops = r.operations();
  t.is(ops.length, 2);
  t.deepEqual(ops.map((o) => [o.input, o.output, o.return]), [
    [{ op: 'write', value: 1 }, undefined, Infinity],
    [{ op: 'write', value: 3 }, undefined, Infinity],
  ]);
  t.is(r.invoked, 3);
});

test('a recorded stale read is found not linearizable', (t) => {
  let now = 0;
  const r = new HistoryRecorder<RegisterInput, RegisterOutput>({ clock: () => now++ });
  r.ok(r.invoke(0, { op: 'write', value: 'a' }), {});
  r.ok(r.invoke(0, { op: 'write', value: 'b' }), {});
  r.ok(r.invoke(1, { op: 'read' }), { value: 'a' });
  t.is(checkOperationsSync(registerModel, r.operations()).result, 'illegal');
});

test('completing an operation twice or one never invoked is refused', (t) => {
  const r = new HistoryRecorder<RegisterInput, RegisterOutput>();
  const a = r.invoke(0, { op: 'read' });
  r.ok(a, { value: null });
  t.throws(() => r.ok(a, { value: null }), { instanceOf: LincheckInputError, message: /already completed/ });
  t.throws(() => r.info(42), { instanceOf: LincheckInputError, message: /never invoked/ });
});
