// The shim against real runc (needs root). Each test runs its own container.
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { errorCode } from '@shoal/api';
import {
  attachShim,
  ContainerStartError,
  isShimAlive,
  readExitFile,
  startShim,
  waitShimExit,
} from './client.js';
import { collect, readJsonLog, runDaemonThenKill, setupShimTest as setup } from './test-bundle.js';

const exec = promisify(execFile);

const timeout = (ms = 20_000): AbortSignal => AbortSignal.timeout(ms);

test('echo hello is logged in docker json lines and exits 0', async (t) => {
  const { b, opts, logPath } = await setup(t, { args: ['sh', '-c', 'echo hello; echo oops >&2'] });
  const started = await startShim(opts, timeout());
  t.true(started.pid > 0);
  t.true(started.shimPid > 0);
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 0);
  t.false(st.oomKilled);
  t.regex(st.exitedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  const entries = await readJsonLog(logPath);
  t.deepEqual(
    entries.map((e) => [e.stream, e.log]).sort(),
    [['stderr', 'oops\n'], ['stdout', 'hello\n']],
  );
  for (const e of entries) t.regex(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  t.deepEqual(await readExitFile(b.stateDir), st);
  // runc --keep was used for the OOM check; the shim must have deleted the container.
  await t.throwsAsync(exec('runc', ['--root', b.runtimeRoot, 'state', b.id]));
});

test('a container exit code is recorded', async (t) => {
  const { b, opts } = await setup(t, { args: ['sh', '-c', 'exit 3'] });
  await startShim(opts, timeout());
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 3);
  t.is((await readExitFile(b.stateDir))?.exitCode, 3);
});

test('a missing executable fails the start with 127 and docker\'s message', async (t) => {
  const { b, opts } = await setup(t, { args: ['nope'] });
  const err = await t.throwsAsync(startShim(opts, timeout()), { instanceOf: ContainerStartError });
  t.is(err.exitCode, 127);
  t.is(errorCode(err), 'FailedPrecondition');
  t.regex(err.message, /^failed to create task for container: .*exec: "nope": executable file not found in \$PATH: unknown$/);
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 127);
  t.truthy(st.error);
});

test('a non-executable file fails the start with 126', async (t) => {
  const { opts } = await setup(t, { args: ['/etc/passwd'] });
  const err = await t.throwsAsync(startShim(opts, timeout()), { instanceOf: ContainerStartError });
  t.is(err.exitCode, 126);
});

test('runc kill KILL shows as exit 137', async (t) => {
  const { b, opts } = await setup(t, { args: ['sleep', '1000'] });
  await startShim(opts, timeout());
  await exec('runc', ['--root', b.runtimeRoot, 'kill', b.id, 'KILL']);
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 137);
  t.false(st.oomKilled);
});

test('the container keeps running after the daemon side dies', async (t) => {
  const { b, opts } = await setup(t, { args: ['sleep', '1000'] });
  const clientJs = fileURLToPath(new URL('./client.js', import.meta.url));
  // A separate "daemon" process starts the shim and is then killed with SIGKILL.
  const started = (await runDaemonThenKill(`import { startShim } from ${JSON.stringify(clientJs)};
const r = await startShim(${JSON.stringify(opts)});
process.stdout.write(JSON.stringify(r) + '\\n');
setInterval(() => {}, 1000);`)) as { pid: number; shimPid: number };
  await new Promise((r) => setTimeout(r, 300));
  t.true(await isShimAlive(b.stateDir));
  const state = JSON.parse((await exec('runc', ['--root', b.runtimeRoot, 'state', b.id])).stdout) as { status: string; pid: number };
  t.is(state.status, 'running');
  t.is(state.pid, started.pid);
  // A new daemon can still wait on it.
  const waiting = waitShimExit(b.stateDir, timeout());
  // sleep is pid 1 and ignores TERM (as in docker), so KILL.
  await exec('runc', ['--root', b.runtimeRoot, 'kill', b.id, 'KILL']);
  t.is((await waiting).exitCode, 137);
  await new Promise((r) => setTimeout(r, 300));
  t.false(await isShimAlive(b.stateDir));
});

test('a killed shim reads as exit 255 "shim died"', async (t) => {
  const { b, opts } = await setup(t, { args: ['sleep', '1000'] });
  const started = await startShim(opts, timeout());
  process.kill(started.shimPid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 255);
  t.is(st.error, 'shim died');
});

test('attach sees output as it happens, and the exit', async (t) => {
  const { b, opts } = await setup(t, { args: ['sh', '-c', 'sleep 0.3; echo a; sleep 0.2; echo b >&2; exit 2'] });
  await startShim(opts, timeout());
  const att = await attachShim(b.stateDir, { stdin: false, stdout: true, stderr: true }, timeout());
  const onlyOut = await attachShim(b.stateDir, { stdin: false, stdout: true, stderr: false }, timeout());
  const [all, out] = await Promise.all([collect(att), collect(onlyOut)]);
  t.is(all.stdout, 'a\n');
  t.is(all.stderr, 'b\n');
  t.is(out.stdout, 'a\n');
  t.is(out.stderr, '');
  t.like(all.exit, { type: 'exit', status: { exitCode: 2 } });
  // After the exit, an attach gets the exit frame at once.
  const late = await waitShimExit(b.stateDir, timeout());
  t.is(late.exitCode, 2);
});

test('attach before start sees output from the first byte', async (t) => {
  const { opts } = await setup(t, { args: ['echo', 'first'] });
  const started = await startShim({ ...opts, attach: { stdin: false, stdout: true, stderr: true } }, timeout());
  t.truthy(started.attachment);
  const r = await collect(started.attachment!);
  t.is(r.stdout, 'first\n');
  t.like(r.exit, { status: { exitCode: 0 } });
});

test('stdin: cat echoes what the client writes and exits after closeStdin', async (t) => {
  const { b, opts, logPath } = await setup(t, { args: ['cat'] });
  await startShim({ ...opts, openStdin: true }, timeout());
  const att = await attachShim(b.stateDir, { stdin: true, stdout: true, stderr: true }, timeout());
  const res = collect(att);
  att.writeStdin('ping\n');
  await new Promise((r) => setTimeout(r, 200));
  att.writeStdin(Buffer.from('pong\n'));
  att.closeStdin();
  const r = await res;
  t.is(r.stdout, 'ping\npong\n');
  t.like(r.exit, { status: { exitCode: 0 } });
  t.deepEqual((await readJsonLog(logPath)).map((e) => e.log), ['ping\n', 'pong\n']);
});

test('stdinOnce: the first stdin client going away closes stdin', async (t) => {
  const { b, opts } = await setup(t, { args: ['cat'] });
  await startShim({ ...opts, openStdin: true, stdinOnce: true }, timeout());
  const watcher = attachShim(b.stateDir, { stdin: false, stdout: true, stderr: false }, timeout());
  const att = await attachShim(b.stateDir, { stdin: true, stdout: false, stderr: false }, timeout());
  const res = collect(await watcher);
  att.writeStdin('once\n');
  await new Promise((r) => setTimeout(r, 200));
  att.close();
  const r = await res;
  t.is(r.stdout, 'once\n');
  t.like(r.exit, { status: { exitCode: 0 } });
});

test('tty mode carries the terminal output on stdout', async (t) => {
  const { b, opts, logPath } = await setup(t, { args: ['sh', '-c', 'tty; echo hi >&2; exit 5'], terminal: true });
  await startShim({ ...opts, attach: { stdin: false, stdout: true, stderr: true } }, timeout()).then(async (s) => {
    const r = await collect(s.attachment!);
    t.regex(r.stdout, /\/dev\/pts\/\d+\r?\n/);
    t.regex(r.stdout, /hi\r?\n/);
    t.is(r.stderr, '');
    t.like(r.exit, { status: { exitCode: 5 } });
  });
  const entries = await readJsonLog(logPath);
  t.true(entries.every((e) => e.stream === 'stdout'));
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 5);
});

test('an OOM kill shows as oomKilled', async (t) => {
  const { b, opts } = await setup(t, {
    args: ['sh', '-c', 'x=a; while true; do x="$x$x"; done'],
    memory: 16 * 1024 * 1024,
  });
  await startShim(opts, timeout());
  const st = await waitShimExit(b.stateDir, timeout(60_000));
  t.true(st.oomKilled);
  t.is(st.exitCode, 137);
});

test('tty with stdin: an interactive shell runs commands and ends on closeStdin', async (t) => {
  const { opts } = await setup(t, { args: ['sh'], terminal: true });
  const started = await startShim(
    { ...opts, openStdin: true, attach: { stdin: true, stdout: true, stderr: true } },
    timeout(),
  );
  const att = started.attachment!;
  const res = collect(att);
  await new Promise((r) => setTimeout(r, 300));
  att.writeStdin('echo sum $((40+2))\n');
  await new Promise((r) => setTimeout(r, 300));
  att.closeStdin();
  const r = await res;
  t.regex(r.stdout, /sum 42\r?\n/);
  t.like(r.exit, { status: { exitCode: 0 } });
});

test('tty: runc kill KILL shows as exit 137', async (t) => {
  const { b, opts } = await setup(t, { args: ['sleep', '1000'], terminal: true });
  await startShim(opts, timeout());
  await exec('runc', ['--root', b.runtimeRoot, 'kill', b.id, 'KILL']);
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 137);
});
