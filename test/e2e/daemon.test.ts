import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { withDaemon, SHOALD_MAIN, eventually } from './harness.js';

test('shoald writes a pid file, refuses a second daemon on the same data root, and stops cleanly on SIGTERM', async (t) => {
  const d = await withDaemon(t, { busybox: false });
  const pid = Number((await readFile(join(d.execRoot, 'shoald.pid'), 'utf8')).trim());
  t.is(pid, d.process?.pid ?? -1);
  const second = spawn(process.execPath, [SHOALD_MAIN, '--data-root', d.dataRoot, '--exec-root', join(d.dir, 'exec2'), '-H', `unix://${join(d.dir, 'other.sock')}`]);
  let err = '';
  second.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((r) => second.on('exit', r));
  t.is(code, 1);
  t.regex(err, /already using/);
  t.is(await d.stop(), 0);
  const log = await d.log();
  t.regex(log, /"msg":"shoald is ready"/);
  t.regex(log, /"msg":"shoald stopped"/);
});

test('containers keep running while the daemon is down and stay manageable after it returns', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done']);
  await d.ok(['run', '-d', '--name', 'shortlived', 'busybox', 'sh', '-c', 'sleep 1; exit 5']);
  await d.kill9();
  // While the daemon is down: one keeps running, the other exits.
  await new Promise((r) => setTimeout(r, 2000));
  await d.start();
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'survivor'])).trim(), 'running');
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'shortlived'])).trim(), 'exited 5');
  // Logs written while the daemon was down are there.
  const logs = await d.ok(['logs', 'survivor']);
  t.true(logs.split('\n').length > 8, logs);
  await d.ok(['stop', '-t', '1', 'survivor']);
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'survivor'])).trim(), 'exited');
  // And after a clean restart too.
  await d.ok(['start', 'survivor']);
  await d.stop();
  await d.start();
  t.true(await eventually(async () => (await d.ok(['inspect', '-f', '{{.State.Status}}', 'survivor'])).trim() === 'running'));
  await d.ok(['rm', '-f', 'survivor']);
});

test('the daemon survives bad input: unknown container, bad reference', async (t) => {
  const d = await withDaemon(t);
  const unknown = await d.cli(['stop', 'nope']);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /No such container: nope/);
  const badRef = await d.cli(['tag', 'busybox', 'Bad:Ref']);
  t.not(badRef.code, 0);
  t.regex(badRef.stderr, /invalid reference format/);
  t.is((await d.ok(['version', '--format', '{{.Server.Version}}'])).trim(), '0.1.0');
});
