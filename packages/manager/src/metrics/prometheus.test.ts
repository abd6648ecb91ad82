// The deploy/ artefacts against Debian's Prometheus: promtool validates the
// alert rules and scrape config (and runs the rules' unit tests), and a real
// Prometheus scrapes a metrics server over a store and answers PromQL with
// the replica counts before and after a scale. scripts/setup.sh installs
// prometheus (which ships promtool); without it these tests skip, saying so.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { MemoryStore } from '../store/index.js';
import { node, service, task } from '../store/test-fixtures.js';
import { ClusterMetrics } from './cluster-metrics.js';
import { ALL_METRICS } from './definitions.js';
import { startMetricsServer } from './server.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PROM_DIR = join(ROOT, 'deploy/prometheus');
const DASHBOARD = join(ROOT, 'deploy/grafana/shoal-replica-health.json');

async function which(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      await run('test', ['-x', join(dir, bin)]);
      return join(dir, bin);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const promtool = await which('promtool');
const prometheus = await which('prometheus');
if (!promtool || !prometheus) {
  const missing = [promtool ? '' : 'promtool', prometheus ? '' : 'prometheus'].filter(Boolean).join(' and ');
  console.warn(`SKIPPING the Prometheus tests: ${missing} not installed (apt-get install -y prometheus; scripts/setup.sh does).`);
}
const withPromtool = promtool ? test : test.skip;
const withPrometheus = prometheus ? test.serial : test.skip;

withPromtool('promtool accepts the alert rules', async (t) => {
  const { stdout } = await run(promtool ?? 'promtool', ['check', 'rules', join(PROM_DIR, 'alerts.yml')]);
  t.regex(stdout, /SUCCESS: 3 rules found/);
});

withPromtool('promtool accepts the scrape config (and the rule file it loads)', async (t) => {
  const { stdout } = await run(promtool ?? 'promtool', ['check', 'config', join(PROM_DIR, 'prometheus.yml')]);
  t.regex(stdout, /prometheus\.yml is valid prometheus config file syntax/);
});

withPromtool('the alert rules fire as their unit tests expect, across a leader change', async (t) => {
  const { stdout } = await run(promtool ?? 'promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: PROM_DIR });
  t.regex(stdout, /SUCCESS/);
});

test('the alert rules and the dashboard use only metrics Shoal exports', async (t) => {
  const known = new Set(ALL_METRICS.flatMap((d) => [d.name, `${d.name}_bucket`, `${d.name}_sum`, `${d.name}_count`]));
  const rules = await readFile(join(PROM_DIR, 'alerts.yml'), 'utf8');
  const dashboard = await readFile(DASHBOARD, 'utf8');
  const used = new Set([...`${rules}\n${dashboard}`.matchAll(/\bshoal_[a-z_]+\b/g)].map((m) => m[0]));
  t.true(used.size >= 10, `only ${used.size} metric names found`);
  for (const name of used) t.true(known.has(name), `${name} is not a Shoal metric`);
  for (const alert of ['ShoalServiceReplicasBelowDesired', 'ShoalNodeDown', 'ShoalNoRaftLeader']) t.regex(rules, new RegExp(`alert: ${alert}\\b`));
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface PromVector {
  status: string;
  error?: string;
  data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

async function query(base: string, expr: string): Promise<PromVector> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as PromVector;
}

/** Polls `expr` until its single result equals `want`; returns how long it took. */
async function waitForValue(base: string, expr: string, want: number, timeoutMs: number): Promise<number> {
  const start = Date.now();
  let last = 'no answer';
  while (Date.now() - start < timeoutMs) {
    try {
      const r = await query(base, expr);
      const v = r.data?.result[0]?.value[1];
      last = r.status === 'success' ? `${r.data?.result.length ?? 0} results, first ${v ?? 'none'}` : `error ${r.error ?? ''}`;
      if (r.data?.result.length === 1 && Number(v) === want) return Date.now() - start;
    } catch (err) {
      last = (err as Error).message; // Prometheus not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${expr} did not become ${want} within ${timeoutMs} ms (last: ${last})`);
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

withPrometheus('a real Prometheus scraping a manager sees desired and running replicas change with a scale', async (t) => {
  t.timeout(90_000);
  const store = new MemoryStore();
  const registry = new Registry();
  new ClusterMetrics(store, { registry, raft: () => ({ leader: true, term: 2, commit: store.appliedIndex, applied: store.appliedIndex }) });
  const ctl = new AbortController();
  const server = await startMetricsServer('127.0.0.1:0', registry, ctl.signal);

  const web = service('s1', 'web');
  await store.update((tx) => {
    tx.nodes.create(node('n1', 'host-1', 'MANAGER'));
    tx.nodes.create(node('n2', 'host-2'));
    tx.services.create({ ...web, spec: { ...web.spec, replicated: { replicas: 3 } } });
    for (let i = 1; i <= 3; i++) tx.tasks.create(task(`t${i}`, 's1', i, { nodeId: i % 2 ? 'n1' : 'n2', state: 'RUNNING', serviceName: 'web' }));
  });

  const dir = await mkdtemp(join(tmpdir(), 'shoal-prometheus-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${join(PROM_DIR, 'alerts.yml')}`,
      'scrape_configs:',
      '  - job_name: shoal',
      '    static_configs:',
      `      - targets: ['${server.address}']`,
      '',
    ].join('\n'),
  );
  let output = '';
  const proc = spawn(
    prometheus ?? 'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
  t.teardown(async () => {
    await stop(proc);
    ctl.abort();
    await server.closed;
    await rm(dir, { recursive: true, force: true });
  });
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code, signal) => reject(new Error(`prometheus exited (${code ?? signal}):\n${output}`))),
  );
  exited.catch(() => undefined);
  const base = `http://127.0.0.1:${port}`;

  const running = 'shoal_service_running_replicas{service_name="web"}';
  const desired = 'shoal_service_desired_replicas{service_name="web"}';
  const before = await Promise.race([waitForValue(base, running, 3, 45_000), exited]);
  await waitForValue(base, desired, 3, 5_000);
  t.log(`Prometheus saw 3 running replicas after ${before} ms`);

  // Scale 3 → 5: the spec first, then two more replicas reach RUNNING.
  await store.update((tx) => {
    const s = tx.services.get('s1');
    if (!s?.spec) throw new Error('service s1 is missing');
    tx.services.update({ ...s, spec: { ...s.spec, replicated: { replicas: 5 } } });
    tx.tasks.create(task('t4', 's1', 4, { nodeId: 'n2', state: 'PENDING', serviceName: 'web' }));
    tx.tasks.create(task('t5', 's1', 5, { nodeId: 'n1', state: 'PENDING', serviceName: 'web' }));
  });
  await waitForValue(base, desired, 5, 10_000);
  await waitForValue(base, running, 3, 1_000);
  await waitForValue(base, 'shoal_service_tasks{service_name="web",state="pending"}', 2, 10_000);
  await store.update((tx) => {
    for (const id of ['t4', 't5']) {
      const tk = tx.tasks.get(id);
      if (!tk) throw new Error(`task ${id} is missing`);
      tx.tasks.update({ ...tk, status: { ...tk.status, state: 'RUNNING' } });
    }
  });
  const after = await waitForValue(base, running, 5, 10_000);
  t.log(`Prometheus saw 5 running replicas ${after} ms after the scale completed`);
  t.is(await waitForValue(base, 'sum(shoal_nodes{state="ready"})', 2, 5_000) >= 0, true);
  t.is(await waitForValue(base, 'shoal_raft_leader', 1, 5_000) >= 0, true);

  // Prometheus loaded the shipped rules, and every dashboard query parses and runs.
  const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
    data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
  };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  t.deepEqual(loaded.map((r) => r.name).sort(), ['ShoalNoRaftLeader', 'ShoalNodeDown', 'ShoalServiceReplicasBelowDesired']);
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  for (const p of dashboard.panels) {
    for (const target of p.targets ?? []) {
      const expr = target.expr.replaceAll('$service', '.*').replaceAll('$__rate_interval', '1m');
      const r = await query(base, expr);
      t.is(r.status, 'success', `panel "${p.title}": ${expr}: ${r.error ?? ''}`);
    }
  }
});
