import { PassThrough } from 'node:stream';
import test from 'ava';
import { main } from './main.js';

async function shoal(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdin: new PassThrough(), stdout, stderr, env: { SHOAL_HOST: 'unix:///nonexistent/shoald.sock', ...env } });
  return { code, out, err };
}

test('--help prints usage and exits 0, for the root and nested commands', async (t) => {
  const root = await shoal(['--help']);
  t.is(root.code, 0);
  t.regex(root.out, /Usage: shoal/);
  const nested = await shoal(['container', 'ls', '--help']);
  t.is(nested.code, 0);
  t.regex(nested.out, /--no-trunc/);
  const run = await shoal(['run', '--help']);
  t.regex(run.out, /-h, --hostname/);
});

test('an unknown flag is a usage error with exit 125 and a help hint', async (t) => {
  const r = await shoal(['run', '--bogus', 'busybox']);
  t.is(r.code, 125);
  t.is(r.err, "shoal: unknown flag: --bogus\nSee 'shoal run --help'.\n");
});

test('a bad flag value is reported before contacting the daemon', async (t) => {
  const r = await shoal(['run', '--memory', '12q', 'busybox']);
  t.is(r.code, 125);
  t.regex(r.err, /^shoal: invalid argument "12q" for "-m, --memory" flag: .*\nSee 'shoal run --help'\.\n$/);
  const r2 = await shoal(['container', 'run', '--cpus', '-1', 'busybox']);
  t.is(r2.code, 125);
  t.regex(r2.err, /See 'shoal container run --help'/);
});

test('options after the image go to the container, not to shoal', async (t) => {
  // --bogus after the image would be an unknown flag if shoal parsed it; here the
  // run proceeds to the (unreachable) daemon instead.
  const r = await shoal(['run', '-d', 'busybox', 'sleep', '1', '--bogus']);
  t.is(r.code, 125);
  t.regex(r.err, /Cannot connect to the Shoal daemon at unix:\/\/\/nonexistent\/shoald.sock/);
});

test('missing arguments and unknown commands are usage errors', async (t) => {
  const r = await shoal(['stop']);
  t.is(r.code, 125);
  t.regex(r.err, /"shoal stop" requires at least 1 argument/);
  const r2 = await shoal(['rename', 'a']);
  t.regex(r2.err, /requires exactly 2 arguments/);
  const r3 = await shoal(['frobnicate']);
  t.is(r3.code, 125);
  t.regex(r3.err, /'frobnicate' is not a shoal command/);
});

test('an unreachable daemon is one clear line and exit 125; -H overrides SHOAL_HOST', async (t) => {
  const r = await shoal(['-H', 'unix:///nonexistent/other.sock', 'ps']);
  t.is(r.code, 125);
  t.is(r.err, 'Cannot connect to the Shoal daemon at unix:///nonexistent/other.sock. Is the shoald daemon running?\n');
});

test('version without a daemon prints the client section, then the error', async (t) => {
  const r = await shoal(['version']);
  t.regex(r.out, /^Client:\n Version: +0\.1\.0/);
  t.is(r.code, 125);
});

test('save and load refuse a terminal like docker', async (t) => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true });
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(['save', 'busybox'], { stdin: new PassThrough(), stdout, stderr, env: { SHOAL_HOST: 'unix:///nonexistent.sock' } });
  t.is(code, 1);
  t.is(err, 'cowardly refusing to save to a terminal. Use the -o flag or redirect\n');
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  err = '';
  const code2 = await main(['load'], { stdin, stdout: new PassThrough(), stderr, env: { SHOAL_HOST: 'unix:///nonexistent.sock' } });
  t.is(code2, 1);
  t.is(err, 'requested load from stdin, but stdin is empty\n');
});
