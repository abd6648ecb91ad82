// Standby shims against real runc (needs root).
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ContainerStartError,
  isShimAlive,
  launchShim,
  spawnShimProcess,
  startShim,
  waitShimExit,
  writeShimConfig,
  type ShimStartOptions,
} from './client.js';
import { STANDBY_ARG } from './protocol.js';
import { ShimPool, type ShimPoolOptions } from './pool.js';
import { collect, makeTestBundle, readJsonLog, runDaemonThenKill, setupShimTest as setup } from './test-bundle.js';

const exec = promisify(execFile);
const timeout = (ms = 20_000): AbortSignal => AbortSignal.timeout(ms);

function pool(t: ExecutionContext, opts?: ShimPoolOptions): ShimPool {
  const p = new ShimPool(opts);
  t.teardown(() => p.close());
  return p;
}

/** Whether a process is running (a zombie is not: it waits only to be reaped). */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pids: number[], ms = 3000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    if (!(await Promise.all(pids.map(running))).some(Boolean)) return true;
  }
  return false;
}

test('a standby shim runs the container: logs, exit code, then the pool refills', async (t) => {
  const p = pool(t);
  const { b, opts, logPath } = await setup(t, { args: ['sh', '-c', 'echo hello; echo oops >&2; exit 3'] });
  await p.warm(timeout());
  const [standby] = p.standbyPids;
  t.truthy(standby);
  const started = await p.start(opts, timeout());
  t.is(started.shimPid, standby!);
  t.true(started.pid > 0);
  const st = await waitShimExit(b.stateDir, timeout());
  t.is(st.exitCode, 3);
  t.false(st.oomKilled);
  t.deepEqual(
    (await readJsonLog(logPath)).map((e) => [e.stream, e.log]).sort(),
    [['stderr', 'oops\n'], ['stdout', 'hello\n']],
  );
  t.is((await readFile(join(b.stateDir, 'shim.pid'), 'utf8')).trim(), String(standby));
  // The shim deleted its runc container (it ran with --keep for the OOM check).
  await t.throwsAsync(exec('runc', ['--root', b.runtimeRoot, 'state', b.id]));
  await p.warm(timeout());
  t.is(p.standbyPids.length, 1);
  t.not(p.standbyPids[0], standby);
});

test('a pool shim counts as alive while its container runs, and an unassigned standby never does', async (t) => {
  const p = pool(t, { size: 2 });
  const { b, opts } = await setup(t, { args: ['sleep', '1000'] });
  await p.warm(timeout());
  await p.start(opts, timeout());
  t.true(await isShimAlive(b.stateDir));
  // A pid file naming some other standby (as after pid reuse) is not this dir's shim.
  const [other] = p.standbyPids;
  const otherDir = join(b.root, 'other');
  await mkdir(otherDir);
  await writeFile(join(otherDir, 'shim.pid'), `${other}\n`);
  t.false(await isShimAlive(otherDir));
  await exec('runc', ['--root', b.runtimeRoot, 'kill', b.id, 'KILL']);
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 137);
  t.true(await gone([Number(await readFile(join(b.stateDir, 'shim.pid'), 'utf8'))]));
  t.false(await isShimAlive(b.stateDir));
});

test('a start failure on a standby shim is reported like startShim\'s', async (t) => {
  const p = pool(t);
  const { b, opts } = await setup(t, { args: ['nope'] });
  await p.warm(timeout());
  const err = await t.throwsAsync(p.start(opts, timeout()), { instanceOf: ContainerStartError });
  t.is(err.exitCode, 127);
  t.regex(err.message, /exec: "nope": executable file not found in \$PATH: unknown$/);
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 127);
});

test('attach at start works through a standby shim', async (t) => {
  const p = pool(t);
  const { opts } = await setup(t, { args: ['echo', 'first'] });
  await p.warm(timeout());
  const started = await p.start({ ...opts, attach: { stdin: false, stdout: true, stderr: true } }, timeout());
  const r = await collect(started.attachment!);
  t.is(r.stdout, 'first\n');
  t.like(r.exit, { status: { exitCode: 0 } });
});

test('without a ready standby, start spawns a shim', async (t) => {
  const p = pool(t, { size: 0 });
  await p.warm(timeout());
  t.deepEqual(p.standbyPids, []);
  const { b, opts } = await setup(t, { args: ['true'] });
  await p.start(opts, timeout());
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 0);
});

test('a standby that died before its assignment is replaced by a fresh shim', async (t) => {
  const standby = await spawnShimProcess({ args: [STANDBY_ARG], cwd: '/' });
  t.like(await standby.reports.next(), { value: '{"standby":true}' });
  // Dies after the pool handed it out, before it read the assignment.
  process.kill(standby.pid, 'SIGKILL');
  await new Promise((r) => standby.child.once('exit', r));
  const { b, opts } = await setup(t, { args: ['true'] });
  await writeShimConfig(opts);
  const started = await launchShim(opts, timeout(), standby);
  t.not(started.shimPid, standby.pid);
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 0);
});

test('standby shims exit when the pool is closed, and start still works after', async (t) => {
  const p = new ShimPool({ size: 2 });
  await p.warm(timeout());
  const pids = p.standbyPids;
  t.is(pids.length, 2);
  t.true((await Promise.all(pids.map(running))).every(Boolean));
  await p.close();
  t.true(await gone(pids, 500));
  t.deepEqual(p.standbyPids, []);
  const { b, opts } = await setup(t, { args: ['true'] });
  await p.start(opts, timeout());
  t.is((await waitShimExit(b.stateDir, timeout())).exitCode, 0);
});

test('standby shims exit when their daemon dies', async (t) => {
  const poolJs = fileURLToPath(new URL('./pool.js', import.meta.url));
  const pids = (await runDaemonThenKill(`import { ShimPool } from ${JSON.stringify(poolJs)};
const pool = new ShimPool({ size: 2 });
await pool.warm();
process.stdout.write(JSON.stringify(pool.standbyPids) + '\\n');
setInterval(() => {}, 1000);`)) as number[];
  t.is(pids.length, 2);
  t.true(await gone(pids));
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `cmd` and resolves with the milliseconds it took; rejects when it fails. */
function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} exited ${code}: ${stderr}`))));
  });
}

// Serial: it runs alone, before the concurrent tests, so they do not skew it.
test.serial('latency: pool.start vs startShim vs bare runc (printed, not asserted)', async (t) => {
  const RUNS = 10;
  const p = pool(t);
  const b = await makeTestBundle({ args: ['true'] });
  t.teardown(() => b.cleanup());
  const times: Record<'pool' | 'startShim' | 'runc run' | 'runc run -d', number[]> = {
    pool: [],
    startShim: [],
    'runc run': [],
    'runc run -d': [],
  };
  const spec = JSON.parse(await readFile(join(b.bundle, 'config.json'), 'utf8')) as { linux: { cgroupsPath: string } };
  // A bundle (sharing the rootfs) and a cgroup per container: a cgroup that
  // runc is still removing must not make the next container fail.
  const bundle = async (name: string): Promise<string> => {
    const dir = join(b.root, 'bundles', name);
    await mkdir(dir, { recursive: true });
    spec.linux.cgroupsPath = `${dirname(spec.linux.cgroupsPath)}/${b.id}-${name}`;
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  };
  const shimOpts = async (name: string): Promise<ShimStartOptions> => ({
    dir: join(b.root, name),
    id: `${b.id}-${name}`,
    bundle: await bundle(name),
    runtimeRoot: b.runtimeRoot,
    log: { driver: 'json-file', path: join(b.root, `${name}-json.log`) },
    oomCgroupDirs: [join(dirname(b.memoryCgroupDir), `${b.id}-${name}`)],
  });
  const runc = ['--root', b.runtimeRoot];
  // Run 0 warms the page cache and is not counted; the methods take turns so drift hits all alike.
  for (let i = 0; i <= RUNS; i++) {
    const count = (k: keyof typeof times, ms: number): void => {
      if (i > 0) times[k].push(ms);
    };
    await p.warm(timeout());
    const [standby] = p.standbyPids;
    let o = await shimOpts(`pool-${i}`);
    let t0 = performance.now();
    const started = await p.start(o, timeout());
    count('pool', performance.now() - t0);
    t.is(started.shimPid, standby!, 'the pool start used the standby shim');
    await waitShimExit(o.dir, timeout());
    await p.warm(timeout()); // the refill's Node boot must not run during the next start

    o = await shimOpts(`fresh-${i}`);
    t0 = performance.now();
    await startShim(o, timeout());
    count('startShim', performance.now() - t0);
    await waitShimExit(o.dir, timeout());

    const fg = await bundle(`fg-${i}`);
    count('runc run', await timed('runc', [...runc, 'run', '--bundle', fg, `${b.id}-fg-${i}`]));
    const id = `${b.id}-d-${i}`;
    const detached = await bundle(`d-${i}`);
    count('runc run -d', await timed('runc', [...runc, 'run', '-d', '--bundle', detached, id]));
    await exec('runc', [...runc, 'delete', '--force', id]);
  }
  for (const [k, xs] of Object.entries(times)) {
    t.log(`${k.padEnd(12)} median ${median(xs).toFixed(1)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`);
  }
});
