import test from 'ava';
import { parseJepsenEtcdLog } from './jepsen-etcd-parser.js';
import { parseKvLog } from './kv-parser.js';
import { LincheckInputError } from './model.js';

const J = (proc: number, type: string, f: string, arg: string): string => `INFO  jepsen.util - ${proc}\t:${type}\t:${f}\t${arg}`;

test('the Jepsen parser pairs invocations with completions per process', (t) => {
  const ops = parseJepsenEtcdLog(
    [J(0, 'invoke', 'read', 'nil'), J(1, 'invoke', 'cas', '[3 0]'), J(0, 'ok', 'read', '4'), J(1, 'fail', 'cas', '[3 0]'), ''].join('\n'),
  );
  t.deepEqual(ops, [
    { clientId: 0, input: { op: 'read' }, call: 1, output: { value: 4 }, return: 3 },
    { clientId: 1, input: { op: 'cas', from: 3, to: 0 }, call: 2, output: { ok: false }, return: 4 },
  ]);
});

test('the Jepsen parser treats :info and a missing completion as unknown outcomes', (t) => {
  const ops = parseJepsenEtcdLog([J(0, 'invoke', 'write', '1'), J(1, 'invoke', 'write', '2'), J(0, 'info', 'write', ':timed-out')].join('\n'));
  t.deepEqual(
    ops.map((o) => [o.clientId, o.output, o.return]),
    [
      [0, undefined, Infinity],
      [1, undefined, Infinity],
    ],
  );
});

test('the Jepsen parser drops a failed read or write, which did not happen', (t) => {
  const ops = parseJepsenEtcdLog([J(0, 'invoke', 'write', '1'), J(0, 'fail', 'write', '1')].join('\n'));
  t.deepEqual(ops, []);
});

test('the Jepsen parser names the line of a malformed event', (t) => {
  t.throws(() => parseJepsenEtcdLog([J(0, 'invoke', 'read', 'nil'), 'garbage'].join('\n')), { instanceOf: LincheckInputError, message: /^line 2 / });
  t.throws(() => parseJepsenEtcdLog(J(0, 'ok', 'read', '1')), { instanceOf: LincheckInputError, message: /never invoked/ });
  t.throws(() => parseJepsenEtcdLog(J(0, 'invoke', 'cas', '[1]')), { instanceOf: LincheckInputError, message: /\[from to\]/ });
  t.throws(() => parseJepsenEtcdLog(J(0, 'invoke', 'write', 'abc')), { instanceOf: LincheckInputError, message: /nil or an integer/ });
});

test('the kv parser reads EDN maps with escaped strings', (t) => {
  const ops = parseKvLog(
    [
      '{:process 0, :type :invoke, :f :put, :key "k\\"1", :value "a b"}',
      '{:process 1, :type :invoke, :f :get, :key "k\\"1", :value nil}',
      '{:process 0, :type :ok, :f :put, :key "k\\"1", :value "a b"}',
      '{:process 1, :type :ok, :f :get, :key "k\\"1", :value "a b"}',
    ].join('\n'),
  );
  t.deepEqual(ops, [
    { clientId: 0, input: { op: 'put', key: 'k"1', value: 'a b' }, call: 1, output: {}, return: 3 },
    { clientId: 1, input: { op: 'get', key: 'k"1' }, call: 2, output: { value: 'a b' }, return: 4 },
  ]);
});

test('the kv parser drops :fail, keeps :info as unknown, and refuses a mismatched completion', (t) => {
  const ops = parseKvLog(
    [
      '{:process 0, :type :invoke, :f :append, :key "a", :value "x"}',
      '{:process 0, :type :fail, :f :append, :key "a", :value "x"}',
      '{:process 0, :type :invoke, :f :append, :key "a", :value "y"}',
      '{:process 0, :type :info, :f :append, :key "a", :value "y"}',
    ].join('\n'),
  );
  t.is(ops.length, 1);
  t.is(ops[0]!.return, Infinity);
  t.throws(
    () => parseKvLog(['{:process 0, :type :invoke, :f :get, :key "a", :value nil}', '{:process 0, :type :ok, :f :get, :key "b", :value ""}'].join('\n')),
    { instanceOf: LincheckInputError, message: /line 2: .*key "b"/ },
  );
  t.throws(() => parseKvLog('INFO  jepsen.util - 0\t:invoke\t:read\tnil'), { instanceOf: LincheckInputError, message: /^line 1 is not a key-value event/ });
});
