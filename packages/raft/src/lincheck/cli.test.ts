// The lincheck command end to end: node on the compiled cli.js.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testdataDir } from './testdata-path.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const data = testdataDir();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lincheck(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], signal: AbortSignal.timeout(30_000) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('lincheck prints "linearizable" and exits 0 for a linearizable Jepsen log', async (t) => {
  const r = await lincheck('--model', 'jepsen-register', join(data, 'jepsen-etcd', 'etcd_002.log'));
  t.is(r.stdout, 'linearizable\n');
  t.is(r.code, 0);
});

test('lincheck prints "not linearizable" and exits 1 for a bad kv history', async (t) => {
  const r = await lincheck('--model', 'kv', join(data, 'kv', 'c10-bad.txt'));
  t.is(r.stdout, 'not linearizable\n');
  t.is(r.code, 1);
});

test('lincheck --verbose explains a not-linearizable verdict on stderr', async (t) => {
  const r = await lincheck('--model', 'kv', '--verbose', join(data, 'kv', 'c01-bad.txt'));
  t.is(r.stdout, 'not linearizable\n');
  t.regex(r.stderr, /key "7": not linearizable/);
  t.is(r.code, 1);
});

test('lincheck exits 2 with one line when it runs out of time', async (t) => {
  const r = await lincheck('--model', 'jepsen-register', '--timeout', '0ms', join(data, 'jepsen-etcd', 'etcd_002.log'));
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^lincheck: no verdict within 0 ms .*raise --timeout.*\n$/);
});

test('lincheck exits 2 with one line for bad input', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-lincheck-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.log');
  await writeFile(bad, 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nthis is not an event\n');
  const cases: [string[], RegExp][] = [
    [['--model', 'jepsen-register', bad], /^lincheck: line 2 is not a Jepsen register event/],
    [['--model', 'kv', join(data, 'jepsen-etcd', 'etcd_000.log')], /^lincheck: line 1 is not a key-value event/],
    [['--model', 'linked-list', bad], /^lincheck: unknown model "linked-list"/],
    [['--model', 'kv', join(dir, 'missing.txt')], /^lincheck: cannot read .*missing\.txt: no such file/],
    [['--model', 'kv'], /^lincheck: expected exactly one history file/],
    [[bad], /^lincheck: --model is required/],
    [['--model', 'kv', '--timeout', 'soon', bad], /^lincheck: --timeout must be a duration/],
    [['--model', 'kv', '--frobnicate', bad], /^lincheck: .*frobnicate/],
  ];
  for (const [args, message] of cases) {
    const r = await lincheck(...args);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.regex(r.stderr, message);
    t.is(r.stderr.trimEnd().split('\n').length, 1, `one line for ${args.join(' ')}`);
  }
});
