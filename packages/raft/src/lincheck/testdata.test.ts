// Every shared history (Jepsen etcd runs, key-value runs) must get its known verdict within 10 s.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOperations } from './checker.js';
import type { CheckResult } from './checker.js';
import { parseJepsenEtcdLog } from './jepsen-etcd-parser.js';
import { kvModel } from './kv-model.js';
import { parseKvLog } from './kv-parser.js';
import { registerModel } from './register-model.js';
import { testdataDir } from './testdata-path.js';

const BUDGET_MS = 10_000;
const dir = testdataDir();

const verdicts = new Map(
  readFileSync(join(dir, 'jepsen-etcd', 'VERDICTS.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [file, v] = l.trim().split(/\s+/);
      return [file!, v === 'true'] as const;
    }),
);

const jepsenFiles = readdirSync(join(dir, 'jepsen-etcd')).filter((f) => f.endsWith('.log')).sort();
const kvFiles = readdirSync(join(dir, 'kv')).filter((f) => f.endsWith('.txt')).sort();

test('every Jepsen log has a known verdict and there are histories to check', (t) => {
  t.true(jepsenFiles.length >= 60, `${jepsenFiles.length} Jepsen logs in ${dir}`);
  t.true(kvFiles.length >= 4);
  for (const f of jepsenFiles) t.true(verdicts.has(f), `${f} is in VERDICTS.txt`);
});

function expectVerdict(t: { is: (a: unknown, b: unknown, m?: string) => void; true: (v: boolean, m?: string) => void; log: (...v: unknown[]) => void }, name: string, r: CheckResult<unknown, unknown>, linearizable: boolean): void {
  t.log(`${name}: ${r.result} in ${r.elapsedMs.toFixed(1)} ms (${r.operations} operations, ${r.parts} parts)`);
  t.is(r.result, linearizable ? 'ok' : 'illegal', name);
  t.true(r.elapsedMs <= BUDGET_MS, `${name} took ${r.elapsedMs.toFixed(0)} ms`);
}

for (const file of jepsenFiles) {
  const linearizable = verdicts.get(file) ?? false;
  test.serial(`jepsen-etcd/${file} is ${linearizable ? '' : 'not '}linearizable`, async (t) => {
    const ops = parseJepsenEtcdLog(readFileSync(join(dir, 'jepsen-etcd', file), 'utf8'));
    const r = await checkOperations(registerModel, ops, { timeoutMs: BUDGET_MS });
    expectVerdict(t, file, r, linearizable);
  });
}

for (const file of kvFiles) {
  const linearizable = file.endsWith('-ok.txt');
  test.serial(`kv/${file} is ${linearizable ? '' : 'not '}linearizable`, async (t) => {
    const ops = parseKvLog(readFileSync(join(dir, 'kv', file), 'utf8'));
    const r = await checkOperations(kvModel, ops, { timeoutMs: BUDGET_MS });
    expectVerdict(t, file, r, linearizable);
  });
}
