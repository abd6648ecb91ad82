// Replica health in Prometheus: a one-node swarm whose shoald serves
// --metrics-addr, scraped by Debian's real Prometheus in the same host
// namespace; PromQL sees desired and running replicas before and after a
// scale.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, Lab, netnsPath, withDaemon, type Daemon } from './harness.js';

const HAVE_PROMETHEUS = await new Promise<boolean>((resolve) => {
  const p = spawn('prometheus', ['--version'], { stdio: 'ignore' });
  p.on('error', () => resolve(false));
  p.on('close', (code) => resolve(code === 0));
});

async function query(d: Daemon, promql: string): Promise<number | undefined> {
  const url = `http://127.0.0.1:19090/api/v1/query?query=${encodeURIComponent(promql)}`;
  const r = await d.onHost(['busybox', 'wget', '-q', '-O', '-', url], { timeoutMs: 5000 });
  if (r.code !== 0) return undefined;
  const body = JSON.parse(r.stdout) as { data?: { result?: { value: [number, string] }[] } };
  const v = body.data?.result?.[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

(HAVE_PROMETHEUS ? test : test.skip)('Prometheus scrapes desired and running replicas of a service before and after a scale', async (t) => {
  t.timeout(120_000);
  const lab = await Lab.create(t);
  const host = await lab.addHost(t);
  const d = await withDaemon(t, { netns: host.netns, args: ['--metrics-addr', '127.0.0.1:19323'], env: { SHOAL_RAFT_TICK_MS: '50' } });
  t.regex(await d.ok(['info']), /^ Swarm: inactive$/m);
  await d.ok(['swarm', 'init', '--advertise-addr', host.ip]);
  const info = await d.ok(['info']);
  t.regex(info, /^ Swarm: active$/m);
  t.regex(info, /^ {2}Is Manager: true$/m);
  t.regex(info, new RegExp(`^ {3}${host.ip.replace(/\./g, '\\.')}:2377$`, 'm'));
  await d.ok(['service', 'create', '-d', '--name', 'web', '--replicas', '2', 'busybox', 'sleep', '100000']);

  const dir = await mkdtemp(join(tmpdir(), 'shoal-prom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'prometheus.yml'),
    'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: shoald\n    static_configs:\n      - targets: ["127.0.0.1:19323"]\n',
  );
  const prom = spawn(
    'nsenter',
    [`--net=${netnsPath(host.netns)}`, 'prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--web.listen-address=127.0.0.1:19090'],
    { stdio: 'ignore' },
  );
  t.teardown(async () => {
    prom.kill('SIGTERM');
    await new Promise((r) => prom.once('close', r));
  });

  const running = 'shoal_service_running_replicas{service_name="web"}';
  const desired = 'shoal_service_desired_replicas{service_name="web"}';
  t.true(await eventually(async () => (await query(d, running)) === 2 && (await query(d, desired)) === 2, 60_000, 500), 'two running replicas reach Prometheus');

  await d.ok(['service', 'scale', '-d', 'web=3']);
  t.true(await eventually(async () => (await query(d, desired)) === 3, 30_000, 500), 'the new desired count reaches Prometheus');
  t.true(await eventually(async () => (await query(d, running)) === 3, 60_000, 500), 'the third replica runs and Prometheus sees it');
  t.is(await query(d, 'shoal_raft_leader'), 1);
});
