import test from 'ava';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withDaemon, eventually } from './harness.js';

test('run prints the output of the command and returns its exit code', async (t) => {
  const d = await withDaemon(t);
  const r = await d.cli(['run', '--rm', 'busybox', 'echo', 'hello', 'shoal']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello shoal\n');
  const three = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'echo oops >&2; exit 3']);
  t.is(three.code, 3);
  t.is(three.stderr, 'oops\n');
  // --rm removed both containers.
  t.is((await d.ok(['ps', '-aq'])).trim(), '');
});

test('docker exit codes: 127 for a missing command, 126 for a non-executable one, 125 for a daemon error', async (t) => {
  const d = await withDaemon(t);
  const missing = await d.cli(['run', '--rm', 'busybox', 'no-such-command']);
  t.is(missing.code, 127);
  t.regex(missing.stderr, /no-such-command/);
  const notExec = await d.cli(['run', '--rm', 'busybox', '/etc/passwd']);
  t.is(notExec.code, 126);
  const noImage = await d.cli(['run', '--rm', 'nosuchimage:1.0', 'true']);
  t.is(noImage.code, 125);
  t.regex(noImage.stderr, /No such image: nosuchimage:1\.0/);
});

test('a detached container runs, is listed, logs, stops with its stop signal and is removed', async (t) => {
  const d = await withDaemon(t);
  const id = (await d.ok(['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done'])).trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  const ps = await d.ok(['ps']);
  t.regex(ps, /CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES/);
  t.regex(ps, new RegExp(`${id.slice(0, 12)}\\s+busybox\\s+.*Up .*web`));
  t.true(await eventually(async () => (await d.ok(['logs', 'web'])) === 'started\n'));
  t.is((await d.ok(['inspect', '--format', '{{.State.Status}} {{.State.Running}}', 'web'])).trim(), 'running true');
  // rm of a running container is refused without -f, and nothing changes.
  const refused = await d.cli(['rm', 'web']);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /cannot remove a running container/i);
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'web'])).trim(), 'running');
  t.is((await d.ok(['stop', 'web'])).trim(), 'web');
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'web'])).trim(), 'exited 0');
  t.is(await d.ok(['logs', 'web']), 'started\nbye\n');
  t.regex(await d.ok(['ps', '-a']), /Exited \(0\)/);
  t.is((await d.ok(['rm', 'web'])).trim(), 'web');
  const gone = await d.cli(['inspect', 'web']);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /No such (container|object): web/);
});

test('stop escalates to SIGKILL after the timeout when the process ignores the signal', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'stubborn', 'busybox', 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
  const started = Date.now();
  await d.ok(['stop', '-t', '1', 'stubborn']);
  t.true(Date.now() - started < 8000);
  t.is((await d.ok(['inspect', '-f', '{{.State.ExitCode}}', 'stubborn'])).trim(), '137');
});

test('a name in use is refused and the first container is untouched', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['create', '--name', 'dup', 'busybox', 'true']);
  const r = await d.cli(['create', '--name', 'dup', 'busybox', 'true']);
  t.is(r.code, 125);
  t.regex(r.stderr, /already in use/);
  t.is((await d.ok(['ps', '-aq'])).trim().split('\n').length, 1);
});

test('environment, working directory, user, hostname, entrypoint and labels reach the process', async (t) => {
  const d = await withDaemon(t);
  const out = await d.ok(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp', '-u', 'nobody', '-h', 'box1', 'busybox', 'sh', '-c', 'echo $FOO $(pwd) $(id -u) $(hostname)']);
  t.is(out, 'bar /tmp 65534 box1\n');
  const ep = await d.ok(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'from', 'entrypoint']);
  t.is(ep, 'from entrypoint\n');
  await d.ok(['create', '--name', 'labelled', '-l', 'tier=web', 'busybox', 'true']);
  await d.ok(['create', '--name', 'other', 'busybox', 'true']);
  t.is((await d.ok(['ps', '-a', '--filter', 'label=tier=web', '--format', '{{.Names}}'])).trim(), 'labelled');
  t.is((await d.ok(['ps', '-a', '--filter', 'name=oth', '--format', '{{.Names}}'])).trim(), 'other');
  t.is((await d.ok(['ps', '-a', '--filter', 'status=created', '-q'])).trim().split('\n').length, 2);
});

test('wait returns the exit code; restart policy on-failure retries up to its limit', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'w1', 'busybox', 'sh', '-c', 'sleep 0.3; exit 7']);
  t.is((await d.ok(['wait', 'w1'])).trim(), '7');
  await d.ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']);
  t.true(await eventually(async () => (await d.ok(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'flaky'])).trim() === '2 exited', 15_000));
});

test('pause and unpause freeze and thaw the container; kill -s sends a signal', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'p1', 'busybox', 'sh', '-c', 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done']);
  await d.ok(['pause', 'p1']);
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'p1'])).trim(), 'paused');
  t.regex(await d.ok(['ps']), /\(Paused\)/);
  await d.ok(['unpause', 'p1']);
  t.is((await d.ok(['inspect', '-f', '{{.State.Status}}', 'p1'])).trim(), 'running');
  await d.ok(['kill', '-s', 'USR1', 'p1']);
  t.true(await eventually(async () => (await d.ok(['logs', 'p1'])).includes('got-usr1')));
  await d.ok(['kill', 'p1']);
  t.is((await d.ok(['wait', 'p1'])).trim(), '137');
});

test('exec runs a command inside a running container with its exit code', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'e1', 'busybox', 'sleep', '1000']);
  t.is(await d.ok(['exec', '-e', 'X=1', '-w', '/etc', 'e1', 'sh', '-c', 'echo $X $(pwd)']), '1 /etc\n');
  t.is((await d.cli(['exec', 'e1', 'sh', '-c', 'exit 4'])).code, 4);
  t.is(await d.ok(['exec', '-i', 'e1', 'cat'], { input: 'piped\n' }), 'piped\n');
  const top = await d.ok(['top', 'e1']);
  t.regex(top, /PID/);
  t.regex(top, /sleep 1000/);
});

test('rename, logs --tail and --timestamps, and diff of the writable layer', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '--name', 'a1', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; echo x > /tmp/new; rm /etc/group']);
  await d.ok(['rename', 'a1', 'b1']);
  t.is(await d.ok(['logs', '--tail', '2', 'b1']), 'line4\nline5\n');
  t.regex(await d.ok(['logs', '-t', '--tail', '1', 'b1']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line5\n$/);
  const diff = await d.ok(['diff', 'b1']);
  t.regex(diff, /^A \/tmp\/new$/m);
  t.regex(diff, /^D \/etc\/group$/m);
});

test('cp copies files in and out of a container', async (t) => {
  const d = await withDaemon(t);
  const dir = await fs.mkdtemp(join(tmpdir(), 'shoal-cp-'));
  await fs.writeFile(join(dir, 'in.txt'), 'into the box\n');
  await d.ok(['create', '--name', 'cp1', 'busybox', 'cat', '/in.txt']);
  await d.ok(['cp', join(dir, 'in.txt'), 'cp1:/in.txt']);
  await d.ok(['start', '-a', 'cp1']);
  t.is(await d.ok(['logs', 'cp1']), 'into the box\n');
  await d.ok(['cp', 'cp1:/etc/passwd', join(dir, 'passwd')]);
  t.regex(await fs.readFile(join(dir, 'passwd'), 'utf8'), /^root:x:0:0/);
});

test('bad flag values are refused with a clear error and exit 125, creating nothing', async (t) => {
  const d = await withDaemon(t);
  const mem = await d.cli(['run', '--memory', '12q', 'busybox', 'true']);
  t.is(mem.code, 125);
  t.regex(mem.stderr, /12q/);
  const cpus = await d.cli(['run', '--cpus', '-1', 'busybox', 'true']);
  t.is(cpus.code, 125);
  const restart = await d.cli(['run', '--restart', 'sometimes', 'busybox', 'true']);
  t.is(restart.code, 125);
  t.is((await d.ok(['ps', '-aq'])).trim(), '');
});

test('events streams container lifecycle events', async (t) => {
  const d = await withDaemon(t);
  const since = new Date(Date.now() - 1000).toISOString();
  await d.ok(['run', '--rm', '--name', 'ev', 'busybox', 'true']);
  const until = new Date(Date.now() + 500).toISOString();
  const out = await d.ok(['events', '--since', since, '--until', until, '--filter', 'type=container']);
  for (const action of ['create', 'start', 'die', 'destroy']) {
    t.regex(out, new RegExp(`container ${action} [0-9a-f]{64} .*name=ev`));
  }
});
