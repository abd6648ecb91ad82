// `npm run bench -- raft [--clients 1,64,500] [--duration S] [--rounds N] [--failover-rounds N] ...`
//
// Shoal's replicated KV service (packages/raft) as 3 member processes on
// loopback with fsync on, driven with 256-byte puts from 1, 64 and 500
// concurrent clients; writes/s and p50/p99 latency. When an `etcd` binary is
// installed, a 3-member etcd runs the same way, driven by the same driver
// (bench/lib/raft-driver.ts), with rounds interleaved so both see the same
// machine noise, and the ratios are printed. Then failover: under a 64-client
// load the leader is killed with SIGKILL and the time to the first
// acknowledged write after the kill is measured, over several rounds (the
// killed member is restarted and caught up between rounds). Prints the issue's
// targets as met or not; never fails on a figure.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cpuMs, pollUntil, type BenchCluster } from './lib/raft-cluster.js';
import { runLoad, startLoad, type LoadResult } from './lib/raft-driver.js';
import { EtcdCluster, etcdVersion } from './lib/raft-etcd.js';
import { probeFdatasync, type FsyncProbe } from './lib/raft-fsync.js';
import { ShoalCluster } from './lib/raft-shoal.js';
import { percentile, ratio } from './lib/stats.js';
import { ms, renderTable, type Cell } from './lib/table.js';

interface RaftBenchOptions {
  clients: number[];
  durationS: number;
  warmupS: number;
  rounds: number;
  failoverRounds: number;
  failoverClients: number;
  valueBytes: number;
  etcd: boolean;
  dataDir: string;
  nodeArgs: string[];
}

const USAGE = `usage: npm run bench -- raft [options]

  --clients LIST          concurrent clients per run, comma-separated (default 1,64,500)
  --duration S            recorded seconds per run (default 5)
  --warmup S              unrecorded seconds at the start of each run (default 1)
  --rounds N              runs per store and client count, interleaved; medians are reported (default 3)
  --failover-rounds N     leader kills per store (default 5; 0 skips failover)
  --failover-clients N    concurrent clients during failover (default 64)
  --value-bytes N         bytes per written value (default 256)
  --no-etcd               skip etcd even when it is installed
  --node-args ARGS        flags for node running each shoal member, space-separated (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
  --data-dir DIR          parent of the members' temp data dirs (default ${tmpdir()}); must be a real disk for fsync to mean anything`;

/** Targets from issue 4. */
const TARGET_500 = 1.0;
const STRETCH_500 = 2.0;
const TARGET_1 = 0.7;
const FAILOVER_P50_MS = 1_500;
/** Acks that arrive this soon after the kill were already on their way from the old leader (no store elects in 50 ms with 1 s election timeouts). */
const STALE_ACK_MS = 50;

function parseOptions(argv: string[]): RaftBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '1,64,500' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      'failover-rounds': { type: 'string', default: '5' },
      'failover-clients': { type: 'string', default: '64' },
      'value-bytes': { type: 'string', default: '256' },
      'no-etcd': { type: 'boolean', default: false },
      'data-dir': { type: 'string', default: tmpdir() },
      'node-args': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, integer = true): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ ${min}, got "${v}".`);
    return n;
  };
  const clients = values.clients.split(',').map((c) => num('clients', c.trim(), 1));
  return {
    clients,
    durationS: num('duration', values.duration, 0.5, false),
    warmupS: num('warmup', values.warmup, 0, false),
    rounds: num('rounds', values.rounds, 1),
    failoverRounds: num('failover-rounds', values['failover-rounds'], 0),
    failoverClients: num('failover-clients', values['failover-clients'], 1),
    valueBytes: num('value-bytes', values['value-bytes'], 1),
    etcd: !values['no-etcd'],
    dataDir: values['data-dir'],
    nodeArgs: values['node-args'].split(/\s+/).filter((a) => a !== ''),
  };
}

/** The file system type holding `dir` (longest mount-point prefix in /proc/mounts). */
function fsType(dir: string): string {
  let best = { mnt: '', type: 'unknown' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mnt, type] = line.split(' ');
    if (!mnt || !type) continue;
    if ((dir === mnt || dir.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`)) && mnt.length >= best.mnt.length) best = { mnt, type };
  }
  return best.type;
}

const median = (xs: readonly number[]): number | undefined => percentile(xs, 50);
const progress = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

/** One throughput run: the driver's figures plus the CPU both sides used in the recorded window. */
interface ThroughputRun extends LoadResult {
  /** CPU ms of the store's members (all of them). */
  storeCpuMs: number;
  /** CPU ms of this process (the driver and the client library). */
  driverCpuMs: number;
}

/** One store's runs at one client count. */
interface Runs {
  results: ThroughputRun[];
}

/** One store's failover rounds: ms from kill to first acknowledged write, or the error. */
interface Failovers {
  ms: number[];
  /** ms from the kill until every live member named the same new leader (status polled every 50 ms). */
  electedMs: number[];
  failures: string[];
  staleAcks: number;
}

async function measureThroughput(cluster: BenchCluster, clients: number, opts: RaftBenchOptions, signal: AbortSignal): Promise<ThroughputRun> {
  const c = await cluster.client('leader', signal);
  const storeCpu = (): number => cluster.pids().reduce((a, p) => a + cpuMs(p), 0);
  const driverCpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const cpu = { store: 0, driver: 0 };
  try {
    const r = await runLoad({
      clients,
      put: c.put,
      durationMs: opts.durationS * 1000,
      warmupMs: opts.warmupS * 1000,
      valueBytes: opts.valueBytes,
      signal,
      onWindow: (edge) => {
        const sign = edge === 'open' ? -1 : 1;
        cpu.store += sign * storeCpu();
        cpu.driver += sign * driverCpu();
      },
    });
    return { ...r, storeCpuMs: cpu.store, driverCpuMs: cpu.driver };
  } finally {
    c.close();
  }
}

/**
 * Kills the leader under load and resolves with the ms from the kill to the first write
 * acknowledged after it (acks within STALE_ACK_MS were sent before the kill and are skipped,
 * counted in `stale`). Restarts the member and waits for the cluster to be whole again.
 */
async function measureFailover(cluster: BenchCluster, opts: RaftBenchOptions, signal: AbortSignal): Promise<{ ms: number; electedMs?: number; stale: number }> {
  const c = await cluster.client('all', signal);
  let killedAt: number | undefined;
  let first: number | undefined;
  let stale = 0;
  const load = startLoad({
    clients: opts.failoverClients,
    put: c.put,
    valueBytes: opts.valueBytes,
    signal,
    onAck: (_start, end) => {
      if (killedAt === undefined || end <= killedAt) return;
      if (end - killedAt < STALE_ACK_MS) stale += 1;
      else first ??= end - killedAt;
    },
  });
  let victim: number | undefined;
  try {
    await delay(1_500, undefined, { signal });
    victim = await cluster.leader(signal);
    const t0 = performance.now();
    killedAt = t0;
    cluster.kill(victim);
    const old = victim;
    const elected = pollUntil(
      'no new leader',
      async () => {
        const l = await cluster.leader(signal, 30_000);
        return l === old ? undefined : performance.now() - t0;
      },
      30_000,
      signal,
      0,
    ).catch(() => undefined);
    const acked = await pollUntil('no write was acknowledged after the leader was killed', async () => first, 30_000, signal, 5);
    const electedMs = await elected;
    return electedMs === undefined ? { ms: acked, stale } : { ms: acked, electedMs, stale };
  } finally {
    await load.stop();
    c.close();
    if (victim !== undefined) {
      await cluster.restart(victim, signal);
      await cluster.waitHealthy(signal);
    }
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const ctl = new AbortController();
  const signal = ctl.signal;
  const onSignal = (): void => ctl.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const notes: string[] = [];
  const clusters: BenchCluster[] = [];
  const loadBefore = loadavg()[0] ?? 0;
  try {
    progress('timing fdatasync in the data dir');
    const fsyncBefore = await probeFdatasync(opts.dataDir);
    progress('starting 3 shoal members');
    const shoal = await ShoalCluster.create({ parentDir: opts.dataDir, nodeArgs: opts.nodeArgs });
    clusters.push(shoal);
    await shoal.start(signal);
    let etcd: EtcdCluster | undefined;
    if (!opts.etcd) notes.push('etcd skipped (--no-etcd): no ratios.');
    else if ((await etcdVersion()) === undefined) notes.push('No etcd binary on PATH (or $ETCD_BIN): etcd skipped, no ratios. Install it with `apt-get install -y etcd-server`.');
    else {
      progress('starting 3 etcd members');
      etcd = await EtcdCluster.create(3, opts.dataDir);
      clusters.push(etcd);
      await etcd.start(signal);
    }
    const fs = fsType(opts.dataDir);
    if (fs === 'tmpfs' || fs === 'ramfs') notes.push(`The data dirs are on ${fs}: fsync costs nothing there, so the figures flatter both stores; pass --data-dir on a real disk.`);

    // Throughput and latency, interleaved: the order of the stores alternates each round.
    const runs = new Map<string, Map<number, Runs>>(clusters.map((c) => [c.name, new Map(opts.clients.map((n) => [n, { results: [] }]))]));
    for (const n of opts.clients) {
      for (let round = 0; round < opts.rounds; round++) {
        const order = round % 2 === 0 ? clusters : [...clusters].reverse();
        for (const cl of order) {
          signal.throwIfAborted();
          const r = await measureThroughput(cl, n, opts, signal);
          runs.get(cl.name)?.get(n)?.results.push(r);
          const lat = (p: number): string => ms(percentile(r.latencies, p));
          const cpu = `store CPU ${((100 * r.storeCpuMs) / r.windowMs).toFixed(0)}%, driver CPU ${((100 * r.driverCpuMs) / r.windowMs).toFixed(0)}%`;
          progress(`${n} clients, round ${round + 1}/${opts.rounds}, ${cl.name}: ${r.writesPerSec.toFixed(0)} writes/s, p50 ${lat(50)} ms, p99 ${lat(99)} ms, ${cpu}${r.failed ? `, ${r.failed} failed` : ''}`);
        }
      }
    }

    // Failover, interleaved the same way.
    const failovers = new Map<string, Failovers>(clusters.map((c) => [c.name, { ms: [], electedMs: [], failures: [], staleAcks: 0 }]));
    for (let round = 0; round < opts.failoverRounds; round++) {
      const order = round % 2 === 0 ? clusters : [...clusters].reverse();
      for (const cl of order) {
        signal.throwIfAborted();
        const f = failovers.get(cl.name);
        if (!f) continue;
        try {
          const r = await measureFailover(cl, opts, signal);
          f.ms.push(r.ms);
          if (r.electedMs !== undefined) f.electedMs.push(r.electedMs);
          f.staleAcks += r.stale;
          const el = r.electedMs === undefined ? '' : ` (new leader seen after ${r.electedMs.toFixed(0)} ms)`;
          progress(`failover round ${round + 1}/${opts.failoverRounds}, ${cl.name}: first acknowledged write ${r.ms.toFixed(0)} ms after kill -9 of the leader${el}`);
        } catch (e) {
          signal.throwIfAborted();
          const msg = e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
          f.failures.push(msg);
          progress(`failover round ${round + 1}/${opts.failoverRounds}, ${cl.name}: failed: ${msg}`);
          await cl.waitHealthy(signal).catch(() => undefined);
        }
      }
    }

    const fsyncAfter = await probeFdatasync(opts.dataDir);
    const loadAfter = loadavg()[0] ?? 0;
    if (loadBefore > 1) {
      notes.push(`The machine was busy before the bench started (1-min load average ${loadBefore.toFixed(1)} on ${cpus().length} CPUs): absolute figures are noisy; the interleaved ratios less so.`);
    }
    const etcdName = etcd?.name;
    const fsyncText = (p: FsyncProbe): string => `p50 ${ms(p.p50)} / p99 ${ms(p.p99)} ms`;
    const header = [
      `Raft benchmark: ${opts.valueBytes}-byte puts, 3 members per store as separate processes on loopback, fsync on.`,
      `Each figure is the median of ${opts.rounds} interleaved round(s) of ${opts.durationS} s (after ${opts.warmupS} s warm-up); p50/p99 are nearest-rank over one round's acknowledged writes.`,
      'Every client count runs through one driver (bench/lib/raft-driver.ts) with one gRPC connection; throughput runs send to the leader.',
      'CPU: % of one CPU in the recorded window (store = its 3 members together, driver = this process); CPU ms/1k writes = the members\' CPU per 1,000 acknowledged writes.',
      `Host: Linux ${release()}, ${cpus().length} CPUs, Node ${process.version}, data on ${fs} (${opts.dataDir}); the driver shares the CPUs with the members.`,
      `Disk: a 300-byte append + fdatasync takes ${fsyncText(fsyncBefore)} before the runs, ${fsyncText(fsyncAfter)} after. Load average (1 min): ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after.`,
      ...clusters.map((c) => c.description),
    ];
    console.log(header.join('\n'));
    for (const n of opts.clients) {
      console.log();
      console.log(`${n} concurrent client${n === 1 ? '' : 's'}:`);
      console.log(renderThroughput(clusters, runs, n, etcdName));
    }
    if (opts.failoverRounds > 0) {
      console.log();
      console.log(`Failover: kill -9 of the leader under ${opts.failoverClients} concurrent clients → first acknowledged write (clients given every member):`);
      console.log(renderFailover(clusters, failovers));
    }
    console.log();
    console.log(renderTargets(runs, failovers, etcdName, opts));
    for (const cl of clusters) {
      for (const n of opts.clients) {
        const rs = runs.get(cl.name)?.get(n)?.results ?? [];
        const failed = rs.reduce((a, r) => a + r.failed, 0);
        const first = rs.find((r) => r.firstError)?.firstError;
        if (failed) notes.push(`${cl.name} at ${n} clients: ${failed} writes failed; first: ${first ?? '?'}`);
      }
      const f = failovers.get(cl.name);
      if (f?.staleAcks) notes.push(`${cl.name} failover: ${f.staleAcks} acks arriving < ${STALE_ACK_MS} ms after the kill were sent by the old leader and not counted.`);
      for (const e of f?.failures ?? []) notes.push(`${cl.name} failover round failed: ${e}`);
    }
    for (const n of notes) console.log(`note: ${n}`);
  } finally {
    progress('cleaning up');
    for (const c of clusters.reverse()) await c.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface Summary {
  wps?: number;
  p50?: number;
  p99?: number;
  /** Members' CPU ms per 1,000 acknowledged writes. */
  cpuPer1k?: number;
  /** Members' CPU as % of one CPU. */
  storeCpuPct?: number;
  /** This process's CPU as % of one CPU. */
  driverCpuPct?: number;
  perRound: string;
  failed: number;
}

/** Medians over a store's rounds at `n` clients. */
function summary(runs: Map<string, Map<number, Runs>>, name: string | undefined, n: number): Summary {
  const rs = name === undefined ? [] : (runs.get(name)?.get(n)?.results ?? []);
  const out: Summary = {
    perRound: rs.map((r) => r.writesPerSec.toFixed(0)).join(' / '),
    failed: rs.reduce((a, r) => a + r.failed, 0),
  };
  const cpuPer1k = median(rs.filter((r) => r.acked > 0).map((r) => (r.storeCpuMs * 1000) / r.acked));
  const storeCpuPct = median(rs.map((r) => (100 * r.storeCpuMs) / r.windowMs));
  const driverCpuPct = median(rs.map((r) => (100 * r.driverCpuMs) / r.windowMs));
  if (cpuPer1k !== undefined) out.cpuPer1k = cpuPer1k;
  if (storeCpuPct !== undefined) out.storeCpuPct = storeCpuPct;
  if (driverCpuPct !== undefined) out.driverCpuPct = driverCpuPct;
  const wps = median(rs.map((r) => r.writesPerSec));
  const p50 = median(rs.map((r) => percentile(r.latencies, 50)).filter((v): v is number => v !== undefined));
  const p99 = median(rs.map((r) => percentile(r.latencies, 99)).filter((v): v is number => v !== undefined));
  if (wps !== undefined) out.wps = wps;
  if (p50 !== undefined) out.p50 = p50;
  if (p99 !== undefined) out.p99 = p99;
  return out;
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(0)}%`);
const times = (r: number | undefined): string => (r === undefined ? '-' : `${r.toFixed(2)}×`);

function renderThroughput(clusters: readonly BenchCluster[], runs: Map<string, Map<number, Runs>>, n: number, etcdName: string | undefined): string {
  const rows: Cell[][] = clusters.map((c) => {
    const s = summary(runs, c.name, n);
    return [c.name, s.wps === undefined ? '-' : s.wps.toFixed(0), s.p50, s.p99, String(s.failed), pct(s.storeCpuPct), s.cpuPer1k?.toFixed(0), pct(s.driverCpuPct), s.perRound];
  });
  if (etcdName) {
    const a = summary(runs, 'shoal', n);
    const b = summary(runs, etcdName, n);
    rows.push(['shoal ÷ etcd', times(ratio(a.wps, b.wps)), times(ratio(a.p50, b.p50)), times(ratio(a.p99, b.p99)), '', '', times(ratio(a.cpuPer1k, b.cpuPer1k)), '', '']);
  }
  return renderTable(
    ['store', 'writes/s', 'p50 ms', 'p99 ms', 'failed', 'store CPU', 'CPU ms/1k writes', 'driver CPU', 'writes/s per round'],
    rows,
    [false, true, true, true, true, true, true, true, false],
  );
}

function renderFailover(clusters: readonly BenchCluster[], failovers: Map<string, Failovers>): string {
  const rows: Cell[][] = clusters.map((c) => {
    const f = failovers.get(c.name) ?? { ms: [], electedMs: [], failures: [], staleAcks: 0 };
    return [
      c.name,
      `${f.ms.length}/${f.ms.length + f.failures.length}`,
      percentile(f.ms, 50),
      percentile(f.ms, 99),
      f.ms.length ? Math.min(...f.ms) : undefined,
      percentile(f.electedMs, 50),
      f.ms.map((v) => v.toFixed(0)).join(' / '),
    ];
  });
  return renderTable(
    ['store', 'ok', 'first ack p50 ms', 'p99 ms', 'min ms', 'new leader seen p50 ms', 'first ack each round (ms)'],
    rows,
    [false, true, true, true, true, true, false],
  );
}

function renderTargets(runs: Map<string, Map<number, Runs>>, failovers: Map<string, Failovers>, etcdName: string | undefined, opts: RaftBenchOptions): string {
  const verdict = (met: boolean | undefined): string => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');
  const wpsRatio = (n: number): number | undefined => (opts.clients.includes(n) && etcdName ? ratio(summary(runs, 'shoal', n).wps, summary(runs, etcdName, n).wps) : undefined);
  const r500 = wpsRatio(500);
  const r1 = wpsRatio(1);
  const fo = failovers.get('shoal');
  const foP50 = fo ? percentile(fo.ms, 50) : undefined;
  const rows: Cell[][] = [
    [`writes/s at 500 clients ≥ ${TARGET_500.toFixed(1)}× etcd`, times(r500), verdict(r500 === undefined ? undefined : r500 >= TARGET_500)],
    [`  stretch: ≥ ${STRETCH_500.toFixed(1)}× etcd`, times(r500), verdict(r500 === undefined ? undefined : r500 >= STRETCH_500)],
    [`writes/s at 1 client ≥ ${TARGET_1.toFixed(1)}× etcd`, times(r1), verdict(r1 === undefined ? undefined : r1 >= TARGET_1)],
    [`failover (kill -9 leader → first ack) p50 ≤ ${FAILOVER_P50_MS} ms`, foP50 === undefined ? '-' : `${foP50.toFixed(0)} ms`, verdict(foP50 === undefined ? undefined : foP50 <= FAILOVER_P50_MS)],
  ];
  return renderTable(['target', 'measured', 'verdict'], rows, [false, false, false]);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench raft: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
