// The Runc wrapper against the real runc binary. Needs root.
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, errorCode, sleep } from '@shoal/api';
import { cgroupPaths, removeCgroup } from '../cgroups/paths.js';
import { cgroupStats, cpuPercent, freezerState } from '../cgroups/stats.js';
import { Runc, runcError, runcErrorMessage } from './runc.js';
import { buildSpec } from './spec.js';
import { extractBusybox, removeDir, runToExit, testSpecInput, writeBundle } from './test-bundle.js';

const PARENT = `shoal-test-runc-${process.pid}`;
let work = '';
let runc: Runc;

test.before(async () => {
  work = await extractBusybox();
  runc = new Runc({ root: path.join(work, 'runc') });
});

test.after.always(async () => {
  for (const c of await runc.list().catch(() => [])) await runc.delete(c.id, { force: true }).catch(() => undefined);
  await removeCgroup(`/${PARENT}`).catch(() => undefined);
  if (work) await removeDir(work);
});

async function startDetached(id: string, args: string[]): Promise<string> {
  const cgroupsPath = `/${PARENT}/${id}`;
  const bundle = await writeBundle(path.join(work, 'bundles', id), buildSpec(testSpecInput(path.join(work, 'rootfs'), cgroupsPath, args)));
  const child = runc.run(id, bundle, { detach: true, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`runc run -d exited ${code}`);
  return cgroupsPath;
}

function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() })),
  );
}

test('a container’s life through the wrapper: state, ps, exec, update, stats, pause, kill, delete', async (t) => {
  const id = `life-${process.pid}`;
  const cg = await startDetached(id, ['sleep', '1000']);
  t.teardown(() => runc.delete(id, { force: true }).catch(() => undefined));

  const st = await runc.state(id);
  t.is(st.status, 'running');
  t.true(st.pid > 0);
  t.true((await runc.list()).some((c) => c.id === id));
  t.true((await runc.ps(id)).includes(st.pid));

  const exec = await runc.exec(id, {
    user: { uid: 0, gid: 0 },
    args: ['sh', '-c', 'echo hi; id -u; exit 3'],
    cwd: '/',
    env: ['PATH=/bin:/usr/bin'],
  });
  const er = await collect(exec);
  t.is(er.code, 3, er.err);
  t.is(er.out, 'hi\n0\n');

  const tty = await runc.exec(id, {
    terminal: true,
    user: { uid: 0, gid: 0 },
    args: ['sh', '-c', 'tty; read x; echo got:$x; exit 5'],
    cwd: '/',
    env: ['PATH=/bin'],
  }, { stdio: ['pipe', 'pipe', 'pipe'] });
  const ttyDone = collect(tty);
  tty.stdin?.write('hello\n');
  const tr = await ttyDone;
  t.is(tr.code, 5, tr.err);
  // Early input may be echoed before runc switches its terminal to raw mode.
  t.regex(tr.out, /\/dev\/pts\/\d+\r\n/);
  t.regex(tr.out, /got:hello\r\n/);

  await runc.update(id, { pids: { limit: 20 }, memory: { limit: 100 * 1024 * 1024, swap: 200 * 1024 * 1024 } });
  const paths = cgroupPaths(cg);
  const pidsMax = paths.unified ? path.join(paths.unified, 'pids.max') : path.join(paths.v1.pids ?? '', 'pids.max');
  t.is((await readFile(pidsMax, 'utf8')).trim(), '20');

  const s1 = await cgroupStats(cg);
  t.is(s1.pids.current, 1);
  t.is(s1.pids.limit, 20);
  t.is(s1.memory.limit, 100 * 1024 * 1024);
  t.true(s1.memory.usage > 0);
  t.is(s1.memory.oomKills, 0);
  t.true(s1.cpu.usageNs > 0);
  t.is(s1.freezer, 'THAWED');
  await sleep(50);
  const s2 = await cgroupStats(cg);
  const pct = cpuPercent(s1.cpu, s2.cpu, s2.cpu.onlineCpus);
  t.true(pct >= 0 && pct < 50, `an idle sleep uses little CPU (${pct}%)`);

  await runc.pause(id);
  t.is((await runc.state(id)).status, 'paused');
  t.is(await freezerState(cg), 'FROZEN');
  await runc.resume(id);
  t.is((await runc.state(id)).status, 'running');

  const del = await runc.delete(id).catch((e: unknown) => e);
  t.is(errorCode(del), ErrorCode.FailedPrecondition, 'a running container is not deleted without force');

  await runc.kill(id, 'KILL');
  for (let i = 0; i < 100 && (await runc.state(id)).status !== 'stopped'; i++) await sleep(20);
  t.is((await runc.state(id)).status, 'stopped');
  const again = await runc.kill(id, 9).catch((e: unknown) => e);
  t.is(errorCode(again), ErrorCode.FailedPrecondition);
  t.regex((again as Error).message, /not running/);

  await runc.delete(id);
  const gone = await runc.state(id).catch((e: unknown) => e);
  t.is(errorCode(gone), ErrorCode.NotFound);
  t.is((gone as Error).message, `No such container: ${id} (runc inspect: container does not exist).`);
});

test('runc errors become one clear ShoalError', async (t) => {
  const e = await runc.pause('nope').catch((err: unknown) => err);
  t.is(errorCode(e), ErrorCode.NotFound);
  t.is(runcErrorMessage('time="x" level=error msg="container not running"\n'), 'container not running');
  t.is(errorCode(runcError('kill', 'a', '{"level":"error","msg":"container not running"}', 1)), ErrorCode.FailedPrecondition);
  t.is(errorCode(runcError('run', 'a', '{"level":"error","msg":"container with id exists: a"}', 1)), ErrorCode.Internal);
  t.is(errorCode(runcError('run', 'a', '{"level":"error","msg":"container with given ID already exists"}', 1)), ErrorCode.AlreadyExists);
});

test('version reports runc and the spec version', async (t) => {
  const v = await runc.version();
  t.regex(v.runc, /^\d+\.\d+/);
  t.regex(v.spec ?? '', /^1\.\d/);
});

test('an aborted call rejects with the abort reason', async (t) => {
  const ctl = new AbortController();
  ctl.abort(new Error('stop now'));
  await t.throwsAsync(runc.list({ signal: ctl.signal }), { message: 'stop now' });
});

test('measure: runc run of /bin/true on a prepared bundle', async (t) => {
  const id = `true-${process.pid}`;
  const bundle = await writeBundle(
    path.join(work, 'bundles', id),
    buildSpec(testSpecInput(path.join(work, 'rootfs'), `/${PARENT}/${id}`, ['/bin/true'])),
  );
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await runToExit(runc, `${id}-${i}`, bundle);
    await runc.delete(`${id}-${i}`, { force: true });
    t.is(r.exitCode, 0, r.stderr);
    times.push(r.ms);
  }
  times.sort((a, b) => a - b);
  t.log(`runc run /bin/true: p50 ${times[5]?.toFixed(1)} ms, max ${times[9]?.toFixed(1)} ms over 10 runs`);
});
