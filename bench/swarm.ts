// `npm run bench -- swarm [--parts 1,2,3,4,5] [--skip-docker] [--rounds N] [--failover-rounds N] [--rss-wait-seconds S]`
//
// The swarm (issue 5) against its targets, with real shoalds on hosts of their
// own (network namespaces on a lab LAN, as the swarm e2e tests run them):
//   1. one node: `service create --replicas 50 -d busybox sleep …` until `service ls` shows 50/50, and
//      `service scale` 50→100 until 100/100, interleaved with Docker swarm mode (a throw-away dockerd in
//      its own network namespace, scripts/dockerd-netns.sh) when Debian's docker.io is installed;
//   2. the scheduler alone placing 100,000 tasks on 1,000 simulated nodes (packages/manager bench);
//   3. node loss: kill -9 of a worker's shoald → `service ls` back to N/N with no task on the dead node;
//   4. leader failover: kill -9 of the leader of 3 managers → the next `service ls` that succeeds on
//      another manager (production Raft timing);
//   5. the manager's RSS holding 10,000 pending tasks.
// Prints one table of figures and the issue's targets; never fails on time.
// Everything (namespaces, daemons, dockerd) goes at the end, on failure and Ctrl-C too.
import { sleep } from '@shoal/api';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDockerd, loadHarness, type Daemon, type Dockerd } from './lib/e2e-harness.js';
import { readPid, rssKiB } from './lib/host.js';
import { totalCpuMs } from './lib/swarm-cpu.js';
import { Teardowns } from './lib/net-teardown.js';
import { BUSYBOX_TAR, REPO, SHOAL_BIN } from './lib/paths.js';
import { loadSwarmHarness, type SwarmNode } from './lib/swarm-harness.js';
import { pollUntil, replicasColumn, untilNoContainers, untilReplicas, type Cli } from './lib/swarm-poll.js';
import { ratio, Series } from './lib/stats.js';
import { renderTable, type Cell } from './lib/table.js';
import { firstLine, mustRun, timedRun, type TimedRun } from './lib/timed-process.js';

interface SwarmBenchOptions {
  parts: Set<number>;
  skipDocker: boolean;
  /** Interleaved rounds of part 1 (each system once per round). */
  rounds: number;
  failoverRounds: number;
  rssWaitSeconds: number;
}

const USAGE = `usage: npm run bench -- swarm [--parts 1,2,3,4,5] [--skip-docker] [--rounds N] [--failover-rounds N] [--rss-wait-seconds S]

  --parts LIST          which parts to run (default 1,2,3,4,5):
                          1 service create 50 / scale 50→100 on one node (vs Docker swarm mode)
                          2 scheduler only: 100,000 tasks on 1,000 simulated nodes
                          3 node loss → replacements running (1 manager + 2 workers)
                          4 leader failover → next successful control call (3 managers)
                          5 manager RSS holding 10,000 pending tasks
  --skip-docker         part 1 without Docker swarm mode
  --rounds N            interleaved rounds of part 1 (default 2)
  --failover-rounds N   leader kills in part 4 (default 3)
  --rss-wait-seconds S  settling time before reading shoald's RSS in part 5 (default 5)`;

const REPLICAS = 50;
const SCALED = 100;
const LOSS_REPLICAS = 6;
const PENDING_TASKS = 10_000;
const PENDING_SERVICES = 10;
const SCHED_NODES = 1_000;
const SCHED_TASKS = 100_000;

const RATIO_TARGET = 0.2;
const SCHED_TARGET_MS = 10_000;
const LOSS_TARGET_MS = 5_000;
const FAILOVER_TARGET_MS = 1_500;
const RSS_TARGET_MB = 300;

/** An empty value turns the harness's fast Raft ticks off: shoald then uses its production timing. */
const PRODUCTION_RAFT = { SHOAL_RAFT_TICK_MS: '' };

function parseOptions(argv: string[]): SwarmBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      parts: { type: 'string', default: '1,2,3,4,5' },
      'skip-docker': { type: 'boolean', default: false },
      rounds: { type: 'string', default: '2' },
      'failover-rounds': { type: 'string', default: '3' },
      'rss-wait-seconds': { type: 'string', default: '5' },
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
  const parts = new Set<number>();
  for (const p of values.parts.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 5) throw new Error(`--parts takes numbers from 1 to 5 separated by commas, got "${values.parts}".`);
    parts.add(n);
  }
  if (parts.size === 0) throw new Error('--parts names no part: give e.g. --parts 1,3.');
  return {
    parts,
    skipDocker: values['skip-docker'],
    rounds: int('rounds', values.rounds, 1),
    failoverRounds: int('failover-rounds', values['failover-rounds'], 1),
    rssWaitSeconds: int('rss-wait-seconds', values['rss-wait-seconds'], 0),
  };
}

/** Fails early, in one sentence, when the machine or checkout cannot run the bench. */
async function checkPrerequisites(opts: SwarmBenchOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The swarm bench creates namespaces and runs containers: run it as root.');
  if (!existsSync(join(REPO, 'packages/cli/dist/main.js'))) throw new Error('The shoal CLI is not built: run `npx tsc -b` first.');
  if (!existsSync(join(REPO, 'packages/daemon/dist/main.js'))) throw new Error('shoald is not built: run `npx tsc -b` first.');
  if (opts.parts.has(2) && !existsSync(SCHED_BENCH)) throw new Error(`${SCHED_BENCH} is missing: run \`npx tsc -b\` first.`);
  if (!existsSync(BUSYBOX_TAR)) throw new Error(`${BUSYBOX_TAR} is missing: run scripts/build-images.sh first.`);
}

const SCHED_BENCH = join(REPO, 'packages/manager/dist/scheduler/bench.js');
const DOCKER_BUSYBOX = join(REPO, 'test/fixtures/docker-20.10-busybox.tar');

/** One row of the results table. */
interface Row {
  name: string;
  runs: string;
  shoal: string;
  docker?: string;
  vs?: string;
  /** Free text for the last column. */
  detail?: string;
}

interface Target {
  name: string;
  measured: string;
  met: boolean | undefined;
}

const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? e.message : String(e);
}

function ok(r: TimedRun): TimedRun {
  if (r.code !== 0) throw new Error(firstLine(r));
  return r;
}

function secs(msv: number | undefined): string {
  return msv === undefined ? '-' : `${(msv / 1000).toFixed(2)} s`;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? 'met' : 'NOT met';
}

/** The CLI of a shoald, with the bench's abort signal. */
function shoalCli(d: Daemon, signal: AbortSignal): Cli {
  return (args, timeoutMs) => timedRun(SHOAL_BIN, ['-H', d.host, ...args], { signal, ...(timeoutMs ? { timeoutMs } : {}) });
}

/**
 * A one-node swarm on a lab host, with shoald at log level info (what a user runs;
 * the e2e harness's nodes log at debug) and production Raft timing.
 */
async function oneNodeSwarm(t: Teardowns, signal: AbortSignal): Promise<{ d: Daemon; cli: Cli }> {
  const { Daemon, Lab } = await loadHarness();
  const lab = await Lab.create(t);
  const host = await lab.addHost(t);
  const d = new Daemon(await mkdtemp(join(tmpdir(), 'shoal-bench-swarm-')), { netns: host.netns, hostname: 'bench1', cgroupPrefix: 'shoal-bench', logLevel: 'info' });
  t.teardown(() => d.destroy());
  await d.start();
  const cli = shoalCli(d, signal);
  ok(await cli(['import', '--change', 'CMD ["sh"]', BUSYBOX_TAR, 'busybox:latest']));
  ok(await cli(['swarm', 'init', '--advertise-addr', host.ip], 30_000));
  return { d, cli };
}

// ---------------------------------------------------------------------------------------------
// Part 1: service create 50 / scale 50→100 on one node, interleaved with Docker swarm mode.

interface System {
  label: string;
  cli: Cli;
  /** Extra `service create` flags. */
  createFlags: string[];
  create: Series;
  scale: Series;
  /** The daemon processes whose CPU time is counted (not the containers' shims). */
  pids: () => Promise<(number | undefined)[]>;
  /** CPU ms the daemons used in each measured create / scale. */
  createCpu: Series;
  scaleCpu: Series;
}

async function part1(opts: SwarmBenchOptions, t: Teardowns, signal: AbortSignal, rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  progress('part 1: a one-node shoal swarm');
  const shoal = await oneNodeSwarm(t, signal);
  const systems: System[] = [
    {
      label: 'shoal',
      cli: shoal.cli,
      createFlags: [],
      create: new Series('shoal create'),
      scale: new Series('shoal scale'),
      pids: () => Promise.resolve([shoal.d.process?.pid]),
      createCpu: new Series('shoald CPU, create'),
      scaleCpu: new Series('shoald CPU, scale'),
    },
  ];
  let dockerVersion: string | undefined;
  if (opts.skipDocker) {
    notes.push('part 1: --skip-docker: no Docker swarm mode figures.');
  } else {
    const docker = await startDockerSwarm(t, signal, notes);
    if (docker) {
      dockerVersion = docker.version;
      // --no-resolve-image: there is no registry to ask (shoal asks none either).
      systems.push({
        label: 'docker',
        cli: docker.cli,
        createFlags: ['--no-resolve-image'],
        create: new Series('docker create'),
        scale: new Series('docker scale'),
        pids: docker.pids,
        createCpu: new Series('dockerd + containerd CPU, create'),
        scaleCpu: new Series('dockerd + containerd CPU, scale'),
      });
    }
  }

  for (let round = 0; round < opts.rounds; round++) {
    // Alternate who goes first, so that neither always runs right after the other's clean-up.
    const order = round % 2 === 0 ? systems : [...systems].reverse();
    for (const s of order) {
      progress(`part 1: round ${round + 1}/${opts.rounds}: ${s.label}`);
      const name = `bench${round + 1}`;
      let phase = s.create;
      try {
        const c0 = await totalCpuMs(await s.pids());
        const t0 = performance.now();
        ok(await s.cli(['service', 'create', '--name', name, '--replicas', String(REPLICAS), '--stop-grace-period', '1s', ...s.createFlags, '-d', 'busybox', 'sleep', '1000000'], 60_000));
        s.create.add(await untilReplicas(s.cli, name, `${REPLICAS}/${REPLICAS}`, t0, { signal, timeoutMs: 300_000 }));
        const c1 = await totalCpuMs(await s.pids());
        s.createCpu.add(c1 - c0);
        phase = s.scale;
        const t1 = performance.now();
        ok(await s.cli(['service', 'scale', '-d', `${name}=${SCALED}`], 60_000));
        s.scale.add(await untilReplicas(s.cli, name, `${SCALED}/${SCALED}`, t1, { signal, timeoutMs: 300_000 }));
        s.scaleCpu.add((await totalCpuMs(await s.pids())) - c1);
      } catch (e) {
        signal.throwIfAborted();
        phase.fail(message(e));
      }
      // Clean up before the next measurement, so no one measures on top of the other's leftovers.
      await s.cli(['service', 'rm', name], 60_000);
      await untilNoContainers(s.cli, name, { signal }).catch((e: unknown) => notes.push(`part 1: ${s.label}: ${message(e)}`));
    }
  }

  const [sh, dk] = systems;
  for (const [what, get, cpu] of [
    [`service create --replicas ${REPLICAS} → ${REPLICAS}/${REPLICAS} in service ls`, (s: System) => s.create, (s: System) => s.createCpu],
    [`service scale ${REPLICAS}→${SCALED} → ${SCALED}/${SCALED} in service ls`, (s: System) => s.scale, (s: System) => s.scaleCpu],
  ] as const) {
    const a = sh ? get(sh) : undefined;
    const b = dk ? get(dk) : undefined;
    const cpuText = systems
      .map((s) => `${s.label === 'shoal' ? 'shoald' : 'dockerd+containerd'} ${secs(cpu(s).percentile(50))}`)
      .join(', ');
    const r = ratio(a?.percentile(50), b?.percentile(50));
    rows.push({
      name: `1. one node: ${what} (p50)`,
      runs: `${a?.runs ?? 0}${b ? ` + ${b.runs}` : ''}`,
      shoal: secs(a?.percentile(50)),
      docker: b ? secs(b.percentile(50)) : 'not run',
      vs: r === undefined ? '' : `${r.toFixed(2)}×`,
      detail: `daemon CPU (p50): ${cpuText}`,
    });
    targets.push({ name: `1. ${what.split(' →')[0]}: shoal ≤ ${RATIO_TARGET}× Docker swarm mode (p50)`, measured: r === undefined ? '-' : `${r.toFixed(2)}×`, met: r === undefined ? undefined : r <= RATIO_TARGET });
    for (const s of [a, b]) if (s?.firstError) notes.push(`part 1: ${s.name} failed ${s.failures}×; first: ${s.firstError}`);
  }
  if (dockerVersion) notes.push(`part 1: Docker ${dockerVersion} (Debian docker.io), throw-away dockerd in its own network namespace, --bridge=none, swarm init --advertise-addr 127.0.0.1.`);
}

/** A throw-away dockerd in swarm mode with busybox:latest, or undefined (with a note) when it cannot run. */
async function startDockerSwarm(t: Teardowns, signal: AbortSignal, notes: string[]): Promise<{ cli: Cli; version: string; pids: () => Promise<(number | undefined)[]> } | undefined> {
  const { Dockerd, DOCKER_CLI, dockerdAvailable } = await loadDockerd();
  if (!dockerdAvailable()) {
    notes.push('part 1: dockerd cannot run here (scripts/dockerd-netns.sh available says no: Debian docker.io not installed?): shoal figures only.');
    return undefined;
  }
  progress('part 1: a throw-away dockerd in its own network namespace');
  let d: Dockerd;
  try {
    d = await Dockerd.start();
  } catch (e) {
    notes.push(`part 1: dockerd did not start (${message(e)}): shoal figures only.`);
    return undefined;
  }
  t.teardown(() => d.destroy());
  const env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'client') };
  const cli: Cli = (args, timeoutMs) => timedRun(DOCKER_CLI, args, { env, signal, ...(timeoutMs ? { timeoutMs } : {}) });
  try {
    const version = ok(await cli(['version', '--format', '{{.Server.Version}}'], 10_000)).stdout.trim();
    ok(await cli(['swarm', 'init', '--advertise-addr', '127.0.0.1'], 60_000));
    ok(await cli(['load', '-i', DOCKER_BUSYBOX], 60_000));
    ok(await cli(['tag', 'busybox:fixture', 'busybox:latest']));
    const pids = async (): Promise<(number | undefined)[]> => [await readPid(join(d.dir, 'dockerd.pid')), await readPid(join(d.dir, 'containerd.pid'))];
    return { cli, version, pids };
  } catch (e) {
    notes.push(`part 1: Docker swarm mode could not be set up (${message(e)}): shoal figures only.`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the scheduler alone.

interface SchedResult {
  elapsedMs: number;
  cpuMs: number;
  setupMs: number;
  decideMs: number;
  writeMs: number;
  passes: unknown[];
}

async function part2(rows: Row[], targets: Target[]): Promise<void> {
  progress(`part 2: scheduler only, ${SCHED_TASKS.toLocaleString('en')} tasks on ${SCHED_NODES.toLocaleString('en')} simulated nodes`);
  const mod = (await import(pathToFileURL(SCHED_BENCH).href)) as { benchSchedule: (o: { nodes: number; tasks: number }) => Promise<SchedResult> };
  const r = await mod.benchSchedule({ nodes: SCHED_NODES, tasks: SCHED_TASKS });
  rows.push({
    name: `2. scheduler only: ${SCHED_TASKS.toLocaleString('en')} tasks on ${SCHED_NODES.toLocaleString('en')} simulated nodes, all ASSIGNED`,
    runs: '1',
    shoal: secs(r.elapsedMs),
    vs: `cpu ${secs(r.cpuMs)}; decide ${secs(r.decideMs)}, write ${secs(r.writeMs)}, ${r.passes.length} passes`,
  });
  targets.push({ name: `2. scheduler: ${SCHED_TASKS.toLocaleString('en')} tasks on ${SCHED_NODES.toLocaleString('en')} nodes ≤ ${SCHED_TARGET_MS / 1000} s`, measured: secs(r.elapsedMs), met: r.elapsedMs <= SCHED_TARGET_MS });
}

// ---------------------------------------------------------------------------------------------
// Part 3: node loss.

async function part3(t: Teardowns, signal: AbortSignal, rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  progress('part 3: a swarm of 1 manager + 2 workers (swarm-harness startSwarm)');
  const { startSwarm, servicePs } = await loadSwarmHarness();
  // The harness's fast Raft ticks stay (they change elections only); heartbeats are the defaults.
  const s = await startSwarm(t, { managers: 1, workers: 2 });
  const m = s.first;
  const cli = shoalCli(m.d, signal);
  const name = 'loss';
  ok(await cli(['service', 'create', '--name', name, '--replicas', String(LOSS_REPLICAS), '--stop-grace-period', '1s', '-d', 'busybox', 'sleep', '1000000'], 60_000));
  await untilReplicas(cli, name, `${LOSS_REPLICAS}/${LOSS_REPLICAS}`, performance.now(), { signal, timeoutMs: 60_000 });
  const tasks = await servicePs(m.d, name, ['--filter', 'desired-state=running']);
  const victim = s.workers.find((w) => tasks.some((r) => r.node === w.name));
  if (!victim) throw new Error(`no worker runs a task of ${name}: ${JSON.stringify(tasks)}`);
  const onVictim = tasks.filter((r) => r.node === victim.name).length;
  progress(`part 3: kill -9 of ${victim.name}'s shoald (${onVictim} of ${LOSS_REPLICAS} tasks)`);
  let last = '';
  const t0 = performance.now();
  await victim.d.kill9();
  const elapsed = await pollUntil(
    t0,
    async () => {
      const replicas = await replicasColumn(cli, name);
      if (replicas !== `${LOSS_REPLICAS}/${LOSS_REPLICAS}`) {
        last = `service ls shows ${replicas ?? '(nothing)'}`;
        return false;
      }
      const rows = await servicePs(m.d, name, ['--filter', 'desired-state=running']).catch(() => []);
      const running = rows.filter((r) => r.current.startsWith('Running'));
      last = `service ps: ${running.length} running, on ${[...new Set(running.map((r) => r.node))].join(', ')}`;
      return running.length === LOSS_REPLICAS && running.every((r) => r.node !== victim.name);
    },
    () => `the service did not recover: ${last}`,
    { signal, timeoutMs: 120_000 },
  );
  rows.push({ name: `3. node loss (kill -9 of a worker with ${onVictim}/${LOSS_REPLICAS} tasks) → ${LOSS_REPLICAS}/${LOSS_REPLICAS}, none on it`, runs: '1', shoal: secs(elapsed) });
  targets.push({ name: `3. node loss → replacements running ≤ ${LOSS_TARGET_MS / 1000} s (default heartbeat)`, measured: secs(elapsed), met: elapsed <= LOSS_TARGET_MS });
  notes.push('part 3: the swarm runs with the e2e harness\'s SHOAL_RAFT_TICK_MS=50 (Raft elections only; no leader changes here); dispatcher heartbeat at its default; shoalds log at debug (harness default).');
}

// ---------------------------------------------------------------------------------------------
// Part 4: leader failover.

async function part4(opts: SwarmBenchOptions, t: Teardowns, signal: AbortSignal, rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  progress('part 4: a swarm of 3 managers with production Raft timing');
  const { startSwarm, leaderOf, nodeLs, running } = await loadSwarmHarness();
  const s = await startSwarm(t, { managers: 3, env: PRODUCTION_RAFT });
  const series = new Series('failover');
  for (let round = 1; round <= opts.failoverRounds; round++) {
    signal.throwIfAborted();
    try {
      const leader = await leaderOf(s.managers, 30_000);
      const other = s.managers.find((n) => n !== leader && running(n)) as SwarmNode;
      const cli = shoalCli(other.d, signal);
      ok(await cli(['service', 'ls'], 30_000));
      progress(`part 4: round ${round}/${opts.failoverRounds}: kill -9 of the leader ${leader.name}; polling service ls on ${other.name}`);
      let last = '';
      const t0 = performance.now();
      await leader.d.kill9();
      series.add(
        await pollUntil(
          t0,
          async () => {
            const r = await cli(['service', 'ls'], 30_000);
            last = firstLine(r);
            return r.code === 0;
          },
          () => `service ls on ${other.name} never succeeded: ${last}`,
          { signal, timeoutMs: 60_000 },
        ),
      );
      // Back to three managers before the next kill (two of three is no quorum to lose another).
      progress(`part 4: restarting ${leader.name}`);
      await leader.d.start();
      await s.waitReady(undefined, 60_000);
      await pollUntil(
        performance.now(),
        async () => {
          const rows = await nodeLs(other.d).catch(() => []);
          return rows.filter((r) => r.managerStatus === 'Leader' || r.managerStatus === 'Reachable').length === 3;
        },
        () => `${leader.name} did not come back Reachable`,
        { signal, timeoutMs: 60_000, intervalMs: 250 },
      );
    } catch (e) {
      signal.throwIfAborted();
      series.fail(message(e));
    }
  }
  const p50 = series.percentile(50);
  rows.push({
    name: '4. leader failover (kill -9 of the leader of 3) → next successful service ls on another manager (p50)',
    runs: String(series.runs),
    shoal: secs(p50),
    vs: series.runs ? `each: ${series.samples.map((v) => (v / 1000).toFixed(2)).join(', ')} s` : '',
  });
  targets.push({ name: `4. leader failover → next successful control call ≤ ${FAILOVER_TARGET_MS / 1000} s (p50)`, measured: secs(p50), met: p50 === undefined ? undefined : p50 <= FAILOVER_TARGET_MS });
  if (series.firstError) notes.push(`part 4: ${series.failures} round(s) failed; first: ${series.firstError}`);
  notes.push('part 4: production Raft timing (SHOAL_RAFT_TICK_MS unset); each killed leader is restarted and rejoins before the next round.');
}

// ---------------------------------------------------------------------------------------------
// Part 5: manager memory holding 10,000 tasks.

async function part5(opts: SwarmBenchOptions, t: Teardowns, signal: AbortSignal, rows: Row[], targets: Target[], notes: string[]): Promise<void> {
  progress('part 5: a one-node shoal swarm');
  const { d, cli } = await oneNodeSwarm(t, signal);
  const pid = d.process?.pid ?? 0;
  await sleep(opts.rssWaitSeconds * 1000, signal);
  const before = await rssKiB(pid);
  const per = PENDING_TASKS / PENDING_SERVICES;
  progress(`part 5: ${PENDING_SERVICES} services × ${per} replicas that no node satisfies`);
  const t0 = performance.now();
  for (let i = 1; i <= PENDING_SERVICES; i++) {
    ok(await cli(['service', 'create', '--name', `pending${i}`, '--replicas', String(per), '--constraint', 'node.labels.none==x', '-d', 'busybox', 'sleep', '1000000'], 60_000));
  }
  // Every task is in the store (and pending) once `service ps` lists them all.
  let counted = 0;
  await pollUntil(
    t0,
    async () => {
      counted = 0;
      for (let i = 1; i <= PENDING_SERVICES; i++) {
        const r = await cli(['service', 'ps', '-q', `pending${i}`], 60_000);
        if (r.code === 0) counted += r.stdout.split('\n').filter((l) => l.trim() !== '').length;
      }
      return counted >= PENDING_TASKS;
    },
    () => `service ps lists ${counted} of ${PENDING_TASKS} tasks`,
    { signal, timeoutMs: 300_000, intervalMs: 1_000 },
  );
  const tasksMs = performance.now() - t0;
  const sample = await cli(['service', 'ps', '--format', '{{.CurrentState}}', 'pending1'], 60_000);
  const states = [...new Set(sample.stdout.split('\n').map((l) => l.trim().split(' ')[0]).filter((l) => l))];
  const running = await cli(['ps', '-q']);
  await sleep(opts.rssWaitSeconds * 1000, signal);
  const after = await rssKiB(pid);
  const mb = after === undefined ? undefined : (after * 1024) / 1e6;
  rows.push({
    name: `5. manager RSS holding ${PENDING_TASKS.toLocaleString('en')} pending tasks (${PENDING_SERVICES} services)`,
    runs: '1',
    shoal: mb === undefined ? '-' : `${mb.toFixed(1)} MB`,
    vs: `before: ${before === undefined ? '-' : ((before * 1024) / 1e6).toFixed(1)} MB; tasks listed after ${secs(tasksMs)}`,
  });
  targets.push({ name: `5. manager RSS with ${PENDING_TASKS.toLocaleString('en')} tasks ≤ ${RSS_TARGET_MB} MB`, measured: mb === undefined ? '-' : `${mb.toFixed(1)} MB`, met: mb === undefined ? undefined : mb <= RSS_TARGET_MB });
  notes.push(
    `part 5: VmRSS of shoald (manager + worker in one process) ${opts.rssWaitSeconds} s after the last task was listed; task states seen in pending1: ${states.join(', ') || '-'}; containers running: ${running.stdout.split('\n').filter((l) => l.trim()).length}. shoald is not run with --expose-gc, so no GC is forced: the wait lets it settle.`,
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  await checkPrerequisites(opts);
  const ctl = new AbortController();
  const signal = ctl.signal;
  const onSignal = (): void => ctl.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: Row[] = [];
  const targets: Target[] = [];
  const notes: string[] = [];
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;

  const part = async (n: number, run: (t: Teardowns) => Promise<void>): Promise<void> => {
    if (!opts.parts.has(n)) return;
    // Each part cleans up after itself, so that the next one measures on a quiet machine.
    const t = new Teardowns();
    try {
      await run(t);
    } catch (e) {
      signal.throwIfAborted();
      notes.push(`part ${n} failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      progress(`part ${n}: cleaning up`);
      await t.run((e) => progress(`cleanup: ${message(e)}`));
    }
  };

  try {
    await part(1, (t) => part1(opts, t, signal, rows, targets, notes));
    await part(2, () => part2(rows, targets));
    await part(3, (t) => part3(t, signal, rows, targets, notes));
    await part(4, (t) => part4(opts, t, signal, rows, targets, notes));
    await part(5, (t) => part5(opts, t, signal, rows, targets, notes));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const runcVersion = (await mustRun('runc', ['--version']).catch(() => 'runc ?')).split('\n')[0];
  console.log(
    [
      `Swarm benchmark (parts ${[...opts.parts].sort().join(', ')}), ${((performance.now() - started) / 1000).toFixed(0)} s in all.`,
      'Times are wall time from the command (or the kill) to the end of the first `service ls` (polled every ~100 ms) that shows it done.',
      `Host: Linux ${release()}, ${cpus().length} cores, Node ${process.version}, ${runcVersion}; load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]?.toFixed(1)} at the end (other work on the machine shows here).`,
    ].join('\n'),
  );
  console.log();
  const hasDocker = rows.some((r) => r.docker !== undefined);
  const table: Cell[][] = rows.map((r) => [r.name, r.runs, r.shoal, ...(hasDocker ? [r.docker ?? '', r.vs && r.docker !== undefined ? r.vs : ''] : []), r.detail ?? (r.docker === undefined ? (r.vs ?? '') : '')]);
  console.log(renderTable(['measurement', 'runs', 'shoal', ...(hasDocker ? ['docker swarm', 'shoal/docker'] : []), 'detail'], table, [false, true, true, ...(hasDocker ? [true, true] : []), false]));
  console.log();
  console.log(renderTable(['target', 'measured', 'verdict'], targets.map((x) => [x.name, x.measured, verdict(x.met)]), [false, true, false]));
  for (const n of notes) console.log(`note: ${n}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench swarm: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
