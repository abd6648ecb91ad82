// `npm run bench -- engine [--runs N] [--warmup N] [--with-dockerd] [--idle-seconds S]`
//
// Times the single-host engine with the real CLI against a private shoald:
// `shoal run --rm busybox true`, `shoal run -d busybox sleep 1000`, starting a
// created container, CLI start-up, the daemon's own Start/Create RPCs, and a
// bare `runc run` of the same rootfs as the floor. When a Docker daemon answers
// on $DOCKER_HOST (or `--with-dockerd` starts a throwaway one in its own
// network namespace) the same docker commands run interleaved with ours, so
// both see the same machine noise. Prints figures, ratios and the issue's
// targets; never fails on time.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { engineProto, sleep } from '@shoal/api';
import type { ContainersClient } from '@shoal/api/gen/shoal/engine/v1/Containers';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { BenchDockerd, DOCKER_CLI, dockerServerVersion } from './lib/dockerd.js';
import { childPids, rssKiB } from './lib/host.js';
import { BUSYBOX_TAR, REPO, SHOAL_BIN } from './lib/paths.js';
import { RuncBundle } from './lib/runc-bundle.js';
import { BenchShoald } from './lib/shoald.js';
import { ratio, Series } from './lib/stats.js';
import { ms, renderTable, type Cell } from './lib/table.js';
import { firstLine, mustRun, timedRun, type TimedRun } from './lib/timed-process.js';

interface EngineBenchOptions {
  runs: number;
  warmup: number;
  withDockerd: boolean;
  idleSeconds: number;
  logLevel: string;
}

/** One measured command: `once` runs it a single time and resolves with its wall time in ms, or throws. */
interface BenchCase {
  series: Series;
  once: () => Promise<number>;
}

const IDLE_RSS_TARGET_MIB = 60;
const RUNC_SLACK_MS = 25;

const USAGE = `usage: npm run bench -- engine [--runs N] [--warmup N] [--with-dockerd] [--idle-seconds S] [--log-level L]

  --runs N          measured runs of each command (default 20)
  --warmup N        unrecorded rounds first (default 2)
  --with-dockerd    start a throwaway dockerd in its own network namespace for the docker figures
                    (otherwise docker is measured only when $DOCKER_HOST answers)
  --idle-seconds S  idle time before reading shoald's RSS (default 5)
  --log-level L     shoald's log level (default info)`;

function parseOptions(argv: string[]): EngineBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      'with-dockerd': { type: 'boolean', default: false },
      'idle-seconds': { type: 'string', default: '5' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got "${v}".`);
    return n;
  };
  return {
    runs: int('runs', values.runs, 1),
    warmup: int('warmup', values.warmup, 0),
    withDockerd: values['with-dockerd'],
    idleSeconds: int('idle-seconds', values['idle-seconds'], 0),
    logLevel: values['log-level'],
  };
}

/** Fails early, in one sentence, when the machine or checkout cannot run the bench. */
async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The engine bench runs containers and needs root: run it as root.');
  if (!existsSync(join(REPO, 'packages/cli/dist/main.js'))) throw new Error('The shoal CLI is not built: run `npx tsc -b` first.');
  if (!existsSync(BUSYBOX_TAR)) throw new Error(`${BUSYBOX_TAR} is missing: run scripts/build-images.sh first.`);
  await mustRun('runc', ['--version']).catch(() => {
    throw new Error('runc is not installed: run `apt-get install -y runc` first.');
  });
}

function unary<T>(start: (cb: (err: ServiceError | null, res?: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Resolves with `r` when the command exited 0, else throws its first error line. */
function ok(r: TimedRun): TimedRun {
  if (r.code !== 0) throw new Error(firstLine(r));
  return r;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  await checkPrerequisites();
  const ctl = new AbortController();
  const signal = ctl.signal;
  const onSignal = (): void => ctl.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cleanups: (() => Promise<void>)[] = [];
  const notes: string[] = [];
  const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

  try {
    progress('starting shoald');
    const shoald = await BenchShoald.start({ logLevel: opts.logLevel, signal });
    cleanups.push(() => shoald.destroy());
    const shoal = (args: string[]): Promise<TimedRun> => timedRun(SHOAL_BIN, ['-H', shoald.host, ...args], { signal });
    progress('importing busybox:latest');
    ok(await shoal(['import', '--change', 'CMD ["sh"]', BUSYBOX_TAR, 'busybox:latest']));
    await sleep(opts.idleSeconds * 1000, signal);
    const shoaldPid = shoald.pid ?? 0;
    const rssIdle = await rssKiB(shoaldPid);

    // Docker, when there is one.
    let dockerHost = process.env.DOCKER_HOST;
    let dockerd: BenchDockerd | undefined;
    if (opts.withDockerd) {
      progress('starting a throwaway dockerd in its own network namespace');
      dockerd = await BenchDockerd.start(signal);
      const d = dockerd;
      cleanups.push(() => d.destroy());
      dockerHost = dockerd.host;
    }
    const dockerEnv = { ...process.env, DOCKER_HOST: dockerHost ?? '' };
    const docker = (args: string[]): Promise<TimedRun> => timedRun(DOCKER_CLI, args, { env: dockerEnv, signal });
    let dockerVersion: string | undefined;
    if (dockerHost) {
      dockerVersion = await dockerServerVersion(dockerHost);
      if (dockerVersion === undefined) notes.push(`No Docker daemon answered on DOCKER_HOST=${dockerHost}: docker figures skipped.`);
      else await ensureDockerBusybox(docker, shoal, notes);
    } else {
      notes.push('DOCKER_HOST is not set: docker figures skipped (set it, or pass --with-dockerd).');
    }
    const withDocker = dockerVersion !== undefined;

    progress('preparing a bare runc bundle');
    const bundle = await RuncBundle.prepare(BUSYBOX_TAR, ['true']);
    cleanups.push(() => bundle.destroy());

    const proto = engineProto();
    const rpc: ContainersClient = new proto.Containers(`unix://${shoald.socket}`, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
    cleanups.push(async () => rpc.close());

    // Containers to remove: detached ones at the end, created ones after each round.
    const detached = { shoal: [] as string[], docker: [] as string[] };
    const created = { shoal: [] as string[], docker: [] as string[] };
    const idOf = (r: TimedRun): string => r.stdout.trim().split('\n').pop() ?? '';

    const cases: BenchCase[] = [];
    const add = (name: string, once: () => Promise<number>): void => void cases.push({ series: new Series(name), once });
    add('shoal run --rm busybox true', async () => ok(await shoal(['run', '--rm', 'busybox', 'true'])).ms);
    if (withDocker) add('docker run --rm --network none busybox true', async () => ok(await docker(['run', '--rm', '--network', 'none', 'busybox', 'true'])).ms);
    add('shoal run -d busybox sleep 1000', async () => {
      const r = ok(await shoal(['run', '-d', 'busybox', 'sleep', '1000']));
      detached.shoal.push(idOf(r));
      return r.ms;
    });
    if (withDocker) {
      add('docker run -d --network none busybox sleep 1000', async () => {
        const r = ok(await docker(['run', '-d', '--network', 'none', 'busybox', 'sleep', '1000']));
        detached.docker.push(idOf(r));
        return r.ms;
      });
    }
    add('shoal start (created busybox true)', async () => {
      const id = idOf(ok(await shoal(['create', 'busybox', 'true'])));
      created.shoal.push(id);
      return ok(await shoal(['start', id])).ms;
    });
    if (withDocker) {
      add('docker start (created busybox true)', async () => {
        const id = idOf(ok(await docker(['create', '--network', 'none', 'busybox', 'true'])));
        created.docker.push(id);
        return ok(await docker(['start', id])).ms;
      });
    }
    add('shoal --help', async () => ok(await shoal(['--help'])).ms);
    if (withDocker) add('docker --help', async () => ok(await docker(['--help'])).ms);
    add('shoal version', async () => ok(await shoal(['version'])).ms);
    if (withDocker) add('docker version', async () => ok(await docker(['version'])).ms);
    add('Start RPC (daemon: request → started)', async () => {
      const res = await unary<{ id: string }>((cb) => rpc.Create({ spec: { image: 'busybox:latest', cmd: ['true'] } }, cb));
      created.shoal.push(res.id);
      const t0 = performance.now();
      await unary((cb) => rpc.Start({ id: res.id }, cb));
      return performance.now() - t0;
    });
    add('Create+Start RPC (daemon)', async () => {
      const t0 = performance.now();
      const res = await unary<{ id: string }>((cb) => rpc.Create({ spec: { image: 'busybox:latest', cmd: ['true'] } }, cb));
      created.shoal.push(res.id);
      await unary((cb) => rpc.Start({ id: res.id }, cb));
      return performance.now() - t0;
    });
    add(NODE_FLOOR, async () => ok(await timedRun(process.execPath, ['-e', '0'], { signal })).ms);
    add('runc run (bare bundle, true)', async () => {
      const args = await bundle.nextRun();
      return ok(await timedRun('runc', args, { signal })).ms;
    });

    const removeCreated = async (): Promise<void> => {
      if (created.shoal.length) await shoal(['rm', '-f', ...created.shoal.splice(0)]);
      if (created.docker.length) await docker(['rm', '-f', ...created.docker.splice(0)]);
    };
    cleanups.push(async () => {
      await removeCreated().catch(() => undefined);
      if (detached.shoal.length) await shoal(['rm', '-f', ...detached.shoal.splice(0)]).catch(() => undefined);
      if (detached.docker.length) await docker(['rm', '-f', ...detached.docker.splice(0)]).catch(() => undefined);
    });

    // Interleaved rounds; the order rotates each round so no command always follows the same one.
    const rounds = opts.warmup + opts.runs;
    for (let round = 0; round < rounds; round++) {
      const measured = round >= opts.warmup;
      progress(measured ? `round ${round - opts.warmup + 1}/${opts.runs}` : `warm-up ${round + 1}/${opts.warmup}`);
      for (let i = 0; i < cases.length; i++) {
        signal.throwIfAborted();
        const c = cases[(i + round) % cases.length];
        if (!c) continue;
        try {
          const t = await c.once();
          if (measured) c.series.add(t);
        } catch (e) {
          signal.throwIfAborted();
          if (measured) c.series.fail(e instanceof Error ? e.message : String(e));
        }
      }
      await removeCreated();
    }

    const rssAfter = await rssKiB(shoaldPid);
    const shims = await shimRss(shoald.execRoot);
    const dockerRss = dockerd?.pid !== undefined ? await processTreeRss(dockerd.pid) : undefined;
    const dockerShims = dockerd ? await processesRss((cmdline) => cmdline.includes('containerd-shim') && cmdline.includes(dockerd.dir)) : undefined;

    const header = [
      `Engine benchmark: ${opts.runs} runs of each command, interleaved, after ${opts.warmup} warm-up rounds.`,
      'Wall time of the whole command as a shell sees it (CLI start-up included); p50/p99 are nearest-rank.',
      `Host: Linux ${release()}, Node ${process.version}, ${(await mustRun('runc', ['--version'])).split('\n')[0] ?? 'runc'}` +
        (withDocker ? `, Docker ${dockerVersion}${dockerd ? ' (throwaway dockerd, own netns, --bridge=none)' : ''}` : ''),
    ];
    console.log(header.join('\n'));
    console.log();
    console.log(renderTimings(cases, withDocker));
    console.log();
    console.log(
      renderTable(
        ['memory (VmRSS)', 'MiB'],
        [
          [`shoald idle (after start, import, ${opts.idleSeconds} s)`, mib(rssIdle)],
          [`shoald after the runs (${detached.shoal.length} detached containers running)`, mib(rssAfter)],
          [`shoal shims: ${shims.count} running, total`, shims.count ? mib(shims.kib) : '-'],
          ...(dockerRss ? [[`dockerd + containerd after the runs (${detached.docker.length} detached containers)`, mib(dockerRss)] as Cell[]] : []),
          ...(dockerShims ? [[`docker shims: ${dockerShims.count} running, total`, dockerShims.count ? mib(dockerShims.kib) : '-'] as Cell[]] : []),
        ],
        [false, true],
      ),
    );
    console.log(LEGEND);
    console.log();
    console.log(renderTargets(cases, rssIdle));
    for (const n of notes) console.log(`note: ${n}`);
    for (const c of cases) if (c.series.firstError) console.log(`note: ${c.series.name} failed ${c.series.failures}×; first: ${c.series.firstError}`);
  } finally {
    progress('cleaning up');
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => progress(`cleanup: ${String(e)}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Makes sure the Docker daemon has busybox:latest: loads ours (`shoal save` → `docker load`),
 * which also exercises the archive format; falls back to `docker import` of the same rootfs.
 * Throws when neither works.
 */
async function ensureDockerBusybox(docker: (a: string[]) => Promise<TimedRun>, shoal: (a: string[]) => Promise<TimedRun>, notes: string[]): Promise<void> {
  if ((await docker(['image', 'inspect', 'busybox:latest'])).code === 0) return;
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-save-'));
  try {
    const tar = join(dir, 'busybox.tar');
    const saved = await shoal(['save', '-o', tar, 'busybox:latest']);
    if (saved.code === 0 && (await docker(['load', '-i', tar])).code === 0) return;
    notes.push(`docker load of \`shoal save busybox\` failed (${firstLine(saved)}); docker got busybox by \`docker import\` of the same rootfs.`);
    ok(await docker(['import', '--change', 'CMD ["sh"]', BUSYBOX_TAR, 'busybox:latest']));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pairs of (shoal row, reference row) for the ratio column. */
const PAIRS: Record<string, string> = {
  'shoal run --rm busybox true': 'docker run --rm --network none busybox true',
  'shoal run -d busybox sleep 1000': 'docker run -d --network none busybox sleep 1000',
  'shoal start (created busybox true)': 'docker start (created busybox true)',
  'shoal --help': 'docker --help',
  'shoal version': 'docker version',
};
const RUNC = 'runc run (bare bundle, true)';
const START_RPC = 'Start RPC (daemon: request → started)';
const CREATE_START_RPC = 'Create+Start RPC (daemon)';
const NODE_FLOOR = 'node -e 0 (start-up floor of any Node CLI)';

const LEGEND = `
Start RPC: one gRPC Start of an already created container from a warm client in this process; it returns when the
  daemon has the container's process started, so it is the daemon's own request → started time (no CLI start-up).
Create+Start RPC: the same plus the Create before it (what \`run -d\` costs inside the daemon).
runc run: \`runc run\` of /bin/true on a bare bundle of the same rootfs (create, start, wait, delete): the floor.
docker commands use --network none, as shoal's default network is none and the throwaway dockerd has no bridge.`;

function renderTimings(cases: readonly BenchCase[], withDocker: boolean): string {
  const byName = new Map(cases.map((c) => [c.series.name, c.series]));
  const runc = byName.get(RUNC)?.percentile(50);
  const rows = cases
    .map((c) => c.series)
    .sort((a, b) => order(a.name) - order(b.name))
    .map((s): Cell[] => {
      const p50 = s.percentile(50);
      let vs = '';
      const ref = PAIRS[s.name];
      if (ref && withDocker) {
        const r = ratio(p50, byName.get(ref)?.percentile(50));
        vs = r === undefined ? '' : `${r.toFixed(2)}× docker`;
      } else if ((s.name === START_RPC || s.name === CREATE_START_RPC) && p50 !== undefined && runc !== undefined) {
        const d = p50 - runc;
        vs = `runc ${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} ms`;
      }
      return [s.name, String(s.runs), String(s.failures), p50, s.percentile(99), vs];
    });
  return renderTable(['command', 'runs', 'failed', 'p50 ms', 'p99 ms', 'p50 vs'], rows, [false, true, true, true, true, false]);
}

/** Table order: each shoal command directly above its docker twin, then the daemon and runc rows. */
function order(name: string): number {
  const names = Object.entries(PAIRS).flat();
  const i = names.indexOf(name);
  if (i >= 0) return i;
  return [START_RPC, CREATE_START_RPC, RUNC, NODE_FLOOR].indexOf(name) + names.length;
}

function renderTargets(cases: readonly BenchCase[], rssIdle: number | undefined): string {
  const p50 = (name: string): number | undefined => cases.find((c) => c.series.name === name)?.series.percentile(50);
  const verdict = (met: boolean | undefined): string => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');
  const runRm = ratio(p50('shoal run --rm busybox true'), p50(PAIRS['shoal run --rm busybox true'] ?? ''));
  const start = p50(START_RPC);
  const runc = p50(RUNC);
  const rows: Cell[][] = [
    ['shoal run --rm ≤ 0.5× docker run --rm (p50)', runRm === undefined ? '-' : `${runRm.toFixed(2)}×`, verdict(runRm === undefined ? undefined : runRm <= 0.5)],
    [
      `daemon request → process started ≤ runc run + ${RUNC_SLACK_MS} ms (p50)`,
      start === undefined || runc === undefined ? '-' : `${ms(start)} ms vs ${ms(runc)} + ${RUNC_SLACK_MS} ms`,
      verdict(start === undefined || runc === undefined ? undefined : start <= runc + RUNC_SLACK_MS),
    ],
    [`idle shoald ≤ ${IDLE_RSS_TARGET_MIB} MiB RSS`, rssIdle === undefined ? '-' : `${mib(rssIdle)} MiB`, verdict(rssIdle === undefined ? undefined : rssIdle <= IDLE_RSS_TARGET_MIB * 1024)],
  ];
  return renderTable(['target', 'measured', 'verdict'], rows, [false, false, false]);
}

function mib(kib: number | undefined): string {
  return kib === undefined ? '-' : (kib / 1024).toFixed(1);
}

/** Total RSS of the shims of the daemon's containers (exec-root/containers/<id>/shim.pid). */
async function shimRss(execRoot: string): Promise<{ count: number; kib: number }> {
  const dir = join(execRoot, 'containers');
  let count = 0;
  let kib = 0;
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number((await readFile(join(dir, id, 'shim.pid'), 'utf8').catch(() => '')).trim());
    const rss = pid > 0 ? await rssKiB(pid) : undefined;
    if (rss === undefined) continue;
    count += 1;
    kib += rss;
  }
  return { count, kib };
}

/** Count and total RSS of the processes whose NUL-separated command line passes `match`. */
async function processesRss(match: (cmdline: string) => boolean): Promise<{ count: number; kib: number }> {
  let count = 0;
  let kib = 0;
  for (const p of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(p)) continue;
    const cmdline = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (!match(cmdline)) continue;
    const rss = await rssKiB(Number(p));
    if (rss === undefined) continue;
    count += 1;
    kib += rss;
  }
  return { count, kib };
}

/** RSS of `pid` plus its direct children (dockerd and the containerd it started). */
async function processTreeRss(pid: number): Promise<number | undefined> {
  const own = await rssKiB(pid);
  if (own === undefined) return undefined;
  let total = own;
  for (const c of await childPids(pid)) total += (await rssKiB(c)) ?? 0;
  return total;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench engine: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
