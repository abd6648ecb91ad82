// `npm run bench -- engine [--runs N] [--warmup N] [--with-dockerd] [--idle-seconds S] [--log-level L] [--keep-log FILE]`
//
// Times the single-host engine with the real CLI against a private shoald:
// `shoal run --rm busybox true`, `shoal run -d busybox sleep 1000`, starting a
// created container, CLI start-up, the daemon's own Start/Create RPCs, and a
// bare `runc run` of the same rootfs as the floor. When a Docker daemon answers
// on $DOCKER_HOST (or `--with-dockerd` starts a throwaway one in its own
// network namespace) the same docker commands run interleaved with ours, so
// both see the same machine noise. Prints figures, ratios and the issue's
// targets; never fails on time. With `--log-level debug` it also splits the
// shoal commands that start a container into phases, from the daemon's timing
// lines.
//
// shoald and dockerd run exactly as in the e2e tests (test/e2e/harness.ts,
// scripts/dockerd-netns.sh), loaded through lib/e2e-harness.ts.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { engineProto, sleep } from '@shoal/api';
import type { ContainersClient } from '@shoal/api/gen/shoal/engine/v1/Containers';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { breakdown, breakdownRows, parseDaemonTimings, type CommandWindow } from './lib/daemon-timings.js';
import { loadDockerd, loadHarness, type Dockerd } from './lib/e2e-harness.js';
import { readPid, rssKiB, totalRss } from './lib/host.js';
import { BUSYBOX_TAR, REPO, SHOAL_BIN } from './lib/paths.js';
import { RuncBundle } from './lib/runc-bundle.js';
import { ratio, Series } from './lib/stats.js';
import { ms, renderTable, type Cell } from './lib/table.js';
import { firstLine, mustRun, timedRun, type TimedRun } from './lib/timed-process.js';

interface EngineBenchOptions {
  runs: number;
  warmup: number;
  withDockerd: boolean;
  idleSeconds: number;
  logLevel: string;
  /** Copy shoald's log here before cleaning up. */
  keepLog?: string;
}

/** One run's wall time in ms, and the epoch ms it began at (to line it up with the daemon's log). */
interface Timed {
  ms: number;
  startedAt: number;
}

/** One measured command: `once` runs it a single time and resolves with its time, or throws. */
interface BenchCase {
  series: Series;
  /** When each measured run happened. */
  windows: CommandWindow[];
  once: () => Promise<Timed>;
}

const IDLE_RSS_TARGET_MIB = 60;
const RUNC_SLACK_MS = 25;

const USAGE = `usage: npm run bench -- engine [--runs N] [--warmup N] [--with-dockerd] [--idle-seconds S] [--log-level L] [--keep-log FILE]

  --runs N          measured runs of each command (default 20)
  --warmup N        unrecorded rounds first (default 2)
  --with-dockerd    start a throwaway dockerd (scripts/dockerd-netns.sh: own network namespace and
                    containerd) for the docker figures (otherwise docker is measured only when
                    $DOCKER_HOST answers)
  --idle-seconds S  idle time before reading shoald's RSS (default 5)
  --log-level L     shoald's log level (default info); with debug, the shoal run commands are also
                    split into phases from the daemon's timing lines
  --keep-log FILE   copy shoald's log to FILE before cleaning up`;

function parseOptions(argv: string[]): EngineBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      'with-dockerd': { type: 'boolean', default: false },
      'idle-seconds': { type: 'string', default: '5' },
      'log-level': { type: 'string', default: 'info' },
      'keep-log': { type: 'string' },
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
    ...(values['keep-log'] ? { keepLog: values['keep-log'] } : {}),
  };
}

/** Fails early, in one sentence, when the machine or checkout cannot run the bench. */
async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The engine bench runs containers and needs root: run it as root.');
  if (!existsSync(join(REPO, 'packages/cli/dist/main.js'))) throw new Error('The shoal CLI is not built: run `npx tsc -b` first.');
  if (!existsSync(join(REPO, 'packages/daemon/dist/main.js'))) throw new Error('shoald is not built: run `npx tsc -b` first.');
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
    const { Daemon } = await loadHarness();
    const shoald = new Daemon(await mkdtemp(join(tmpdir(), 'shoal-bench-')), { cgroupPrefix: 'shoal-bench', logLevel: opts.logLevel });
    cleanups.push(() => shoald.destroy());
    await shoald.start();
    const shoal = (args: string[]): Promise<TimedRun> => timedRun(SHOAL_BIN, ['-H', shoald.host, ...args], { signal });
    progress('importing busybox:latest');
    ok(await shoal(['import', '--change', 'CMD ["sh"]', BUSYBOX_TAR, 'busybox:latest']));
    await sleep(opts.idleSeconds * 1000, signal);
    const shoaldPid = shoald.process?.pid ?? 0;
    const rssIdle = await rssKiB(shoaldPid);

    // Docker, when there is one.
    let dockerHost = process.env.DOCKER_HOST;
    let dockerd: Dockerd | undefined;
    const { Dockerd, DOCKER_CLI } = await loadDockerd();
    if (opts.withDockerd) {
      progress('starting a throwaway dockerd in its own network namespace (scripts/dockerd-netns.sh)');
      dockerd = await Dockerd.start();
      const d = dockerd;
      cleanups.push(() => d.destroy());
      dockerHost = dockerd.host;
    }
    // The throwaway daemon's client reads no user config (see scripts/dockerd-netns.sh).
    const dockerEnv = { ...process.env, DOCKER_HOST: dockerHost ?? '', ...(dockerd ? { DOCKER_CONFIG: join(dockerd.dir, 'client') } : {}) };
    const docker = (args: string[], timeoutMs?: number): Promise<TimedRun> => timedRun(DOCKER_CLI, args, { env: dockerEnv, signal, ...(timeoutMs ? { timeoutMs } : {}) });
    let dockerVersion: string | undefined;
    if (dockerHost) {
      dockerVersion = await dockerServerVersion(docker);
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
    const add = (name: string, once: () => Promise<Timed>): void => void cases.push({ series: new Series(name), windows: [], once });
    add('shoal run --rm busybox true', async () => ok(await shoal(['run', '--rm', 'busybox', 'true'])));
    if (withDocker) add('docker run --rm --network none busybox true', async () => ok(await docker(['run', '--rm', '--network', 'none', 'busybox', 'true'])));
    add('shoal run -d busybox sleep 1000', async () => {
      const r = ok(await shoal(['run', '-d', 'busybox', 'sleep', '1000']));
      detached.shoal.push(idOf(r));
      return r;
    });
    if (withDocker) {
      add('docker run -d --network none busybox sleep 1000', async () => {
        const r = ok(await docker(['run', '-d', '--network', 'none', 'busybox', 'sleep', '1000']));
        detached.docker.push(idOf(r));
        return r;
      });
    }
    add('shoal start (created busybox true)', async () => {
      const id = idOf(ok(await shoal(['create', 'busybox', 'true'])));
      created.shoal.push(id);
      return ok(await shoal(['start', id]));
    });
    if (withDocker) {
      add('docker start (created busybox true)', async () => {
        const id = idOf(ok(await docker(['create', '--network', 'none', 'busybox', 'true'])));
        created.docker.push(id);
        return ok(await docker(['start', id]));
      });
    }
    add('shoal --help', async () => ok(await shoal(['--help'])));
    if (withDocker) add('docker --help', async () => ok(await docker(['--help'])));
    add('shoal version', async () => ok(await shoal(['version'])));
    if (withDocker) add('docker version', async () => ok(await docker(['version'])));
    add('Start RPC (daemon: request → started)', async () => {
      const res = await unary<{ id: string }>((cb) => rpc.Create({ spec: { image: 'busybox:latest', cmd: ['true'] } }, cb));
      created.shoal.push(res.id);
      const startedAt = Date.now();
      const t0 = performance.now();
      await unary((cb) => rpc.Start({ id: res.id }, cb));
      return { ms: performance.now() - t0, startedAt };
    });
    add('Create+Start RPC (daemon)', async () => {
      const startedAt = Date.now();
      const t0 = performance.now();
      const res = await unary<{ id: string }>((cb) => rpc.Create({ spec: { image: 'busybox:latest', cmd: ['true'] } }, cb));
      created.shoal.push(res.id);
      await unary((cb) => rpc.Start({ id: res.id }, cb));
      return { ms: performance.now() - t0, startedAt };
    });
    add(NODE_FLOOR, async () => ok(await timedRun(process.execPath, ['-e', '0'], { signal })));
    add('runc run (bare bundle, true)', async () => {
      const args = await bundle.nextRun();
      return ok(await timedRun('runc', args, { signal }));
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

    // Interleaved rounds in a new random order each, so that no command always follows the same one
    // (a command that leaves work behind — a shim pool to refill, an exit to clean up — would
    // otherwise always slow down the same neighbour).
    const rounds = opts.warmup + opts.runs;
    for (let round = 0; round < rounds; round++) {
      const measured = round >= opts.warmup;
      progress(measured ? `round ${round - opts.warmup + 1}/${opts.runs}` : `warm-up ${round + 1}/${opts.warmup}`);
      for (const c of shuffled(cases)) {
        signal.throwIfAborted();
        try {
          const t = await c.once();
          if (measured) {
            c.series.add(t.ms);
            c.windows.push({ startedAt: t.startedAt, endedAt: t.startedAt + t.ms });
          }
        } catch (e) {
          signal.throwIfAborted();
          if (measured) c.series.fail(e instanceof Error ? e.message : String(e));
        }
      }
      await removeCreated();
    }

    const rssAfter = await rssKiB(shoaldPid);
    const shims = await shimRss(shoald.execRoot);
    const dockerRss = dockerd ? await dockerdRss(dockerd) : undefined;
    const dockerShims = dockerd ? await processesRss((cmdline) => cmdline.includes('containerd-shim') && cmdline.includes(dockerd.dir)) : undefined;

    const header = [
      `Engine benchmark: ${opts.runs} runs of each command, interleaved, after ${opts.warmup} warm-up rounds.`,
      'Wall time of the whole command as a shell sees it (CLI start-up included); p50/p99 are nearest-rank.',
      `Host: Linux ${release()}, Node ${process.version}, ${(await mustRun('runc', ['--version'])).split('\n')[0] ?? 'runc'}` +
        (withDocker ? `, Docker ${dockerVersion}${dockerd ? ' (throwaway dockerd, own netns, --bridge=none)' : ''}` : ''),
      `CLI: bin/shoal runs the ${cliBuild()}; shoald log level ${opts.logLevel}.`,
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
    if (opts.logLevel === 'debug') {
      console.log();
      console.log(renderBreakdown(cases, await shoald.log()));
    }
    if (opts.keepLog) await copyFile(shoald.logPath, opts.keepLog);
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
async function ensureDockerBusybox(docker: (a: string[], timeoutMs?: number) => Promise<TimedRun>, shoal: (a: string[]) => Promise<TimedRun>, notes: string[]): Promise<void> {
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

/** Which build bin/shoal runs, by its own rule: the esbuild bundle while it is newer than what it was built from. */
function cliBuild(): string {
  const mtime = (p: string): number | undefined => statSync(join(REPO, p), { throwIfNoEntry: false })?.mtimeMs;
  const bundle = mtime('packages/cli/dist/bundle/shoal.js');
  const inputs = ['packages/cli/tsconfig.tsbuildinfo', 'packages/api/tsconfig.tsbuildinfo', 'node_modules/.package-lock.json'];
  const fresh = bundle !== undefined && inputs.every((p) => bundle > (mtime(p) ?? 0));
  return fresh ? 'esbuild bundle' : 'plain tsc output (no fresh bundle: `npm run build` makes one)';
}

function mib(kib: number | undefined): string {
  return kib === undefined ? '-' : (kib / 1024).toFixed(1);
}

/** Total RSS of the shims of the daemon's containers (exec-root/containers/<id>/shim.pid). */
async function shimRss(execRoot: string): Promise<{ count: number; kib: number }> {
  const dir = join(execRoot, 'containers');
  const ids = await readdir(dir).catch(() => [] as string[]);
  return totalRss(await Promise.all(ids.map((id) => readPid(join(dir, id, 'shim.pid')))));
}

/** Count and total RSS of the processes whose NUL-separated command line passes `match`. */
async function processesRss(match: (cmdline: string) => boolean): Promise<{ count: number; kib: number }> {
  const pids: number[] = [];
  for (const p of await readdir('/proc').catch(() => [] as string[])) {
    if (/^\d+$/.test(p) && match(await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => ''))) pids.push(Number(p));
  }
  return totalRss(pids);
}

/** RSS of the throwaway dockerd plus its containerd (pid files of scripts/dockerd-netns.sh). */
async function dockerdRss(d: Dockerd): Promise<number | undefined> {
  const r = await totalRss([await readPid(join(d.dir, 'dockerd.pid')), await readPid(join(d.dir, 'containerd.pid'))]);
  return r.count ? r.kib : undefined;
}

/** The server version when the Docker daemon answers within 10 s, else undefined. */
async function dockerServerVersion(docker: (a: string[], timeoutMs?: number) => Promise<TimedRun>): Promise<string | undefined> {
  const r = await docker(['version', '--format', '{{.Server.Version}}'], 10_000).catch(() => undefined);
  return r?.code === 0 ? r.stdout.trim() : undefined;
}

/** The shoal commands split into phases, and the short names of their columns. */
const BREAKDOWN_COLUMNS: [string, string][] = [
  ['shoal run --rm busybox true', 'run --rm'],
  ['shoal run -d busybox sleep 1000', 'run -d'],
  [START_RPC, 'Start RPC'],
  [CREATE_START_RPC, 'Create+Start RPC'],
];

const BREAKDOWN_LEGEND = `Phases from shoald's debug timing lines (request done, container started, container process started) lined
  up with the bench's own start and end of each measured run; each p50 is taken on its own, so a column's p50s
  need not add up to its whole. The daemon logs whole milliseconds: each phase is ±1 ms.
client start-up: for the CLI, node start, loading the CLI, parsing, connecting and sending the first request;
  for the RPC rows (a warm client in the bench), just the request reaching the daemon.
run --rm starts its container in its Attach call, which then also holds the process running and exiting, the
  exit being recorded, the rootfs unmounted, the runtime cleaned up and the container removed, and the EXIT
  frame sent: all of that is "container started → reply ends".`;

/** The p50 of each phase of the shoal commands, from the daemon's log (it must be at debug level). */
function renderBreakdown(cases: readonly BenchCase[], log: string): string {
  const timings = parseDaemonTimings(log);
  const cols = BREAKDOWN_COLUMNS.flatMap(([name, short]) => {
    const c = cases.find((x) => x.series.name === name);
    return c ? [{ short, b: breakdown(timings, c.windows) }] : [];
  });
  const counts = cols.map(({ short, b }) => `${short} ${b.used}${b.skipped ? ` (+${b.skipped} not found in the log)` : ''}`).join(', ');
  const table = renderTable(
    ['phase (p50 ms)', ...cols.map((c) => c.short)],
    breakdownRows(cols.map((c) => c.b)),
    [false, ...cols.map(() => true)],
  );
  return `Where the time goes, from the daemon's log; runs: ${counts}.\n${table}\n\n${BREAKDOWN_LEGEND}`;
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench engine: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
