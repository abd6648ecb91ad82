// Drives the engine executor against a real engine, for engine-executor.test.ts.
// Run as root in a network namespace of its own (the engine sets up bridges):
//   unshare --net node engine-check.js <work dir> <busybox.tar>
// Prints one JSON object with what it saw; exits non-zero on an unexpected error.
import { createReadStream } from 'node:fs';
import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, nopLogger, type TaskStatus__Output, type Task__Output } from '@shoal/api';
import { createEngine, type Engine } from '@shoal/engine';
import { makeTask } from '../fake-executor/make-task.js';
import { Worker } from '../worker/worker.js';
import type { StatusReporter } from '../worker/reporter.js';
import { EngineExecutor } from './engine-executor.js';

const [dir, tar] = process.argv.slice(2);
if (!dir || !tar) throw new Error('usage: engine-check <dir> <busybox.tar>');
const cgroupParent = `shoal-agent-check-${process.pid}`;

const seen = new Map<string, TaskStatus__Output>();
const reporter: StatusReporter = { report: (id, s) => void seen.set(id, s) };

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; statuses: ${JSON.stringify(Object.fromEntries(seen))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const open = (): Promise<Engine> =>
  createEngine({
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    cgroupParent,
    runtime: 'runc',
    logger: nopLogger,
    pluginsDir: join(dir, 'plugins'),
    network: { iptables: false },
  });

function task(id: string, args: string[], more: { desired?: Task__Output['desired_state']; image?: string; slot?: number } = {}): Task__Output {
  const t = makeTask({ id, image: more.image ?? 'busybox:latest', serviceName: 'web', serviceId: 'svc1', slot: more.slot ?? 1, desired: more.desired ?? 'RUNNING' });
  const c = t.spec!.container!;
  c.command = ['sh', '-c'];
  c.args = args;
  c.env = ['GREETING=hello'];
  c.hostname = 'task-host';
  c.labels = { team: 'blue' };
  c.stop_grace_period = { seconds: '2', nanos: 0 };
  return t;
}

const out: Record<string, unknown> = {};
const signal = new AbortController().signal;
let engine = await open();
try {
  await engine.images.import(createReadStream(tar), { ref: 'busybox:latest', changes: ['CMD ["sh"]'] });
  const executor = (e: Engine) => new EngineExecutor(e, { hostname: 'check-host', engineLabels: { disk: 'ssd' } });
  const ex1 = executor(engine);
  out.description = await ex1.describe(signal);
  await ex1.configure({ id: 'node-1' } as never, signal);
  let worker = new Worker({ executor: ex1, reporter, dataDir: join(dir, 'worker'), retryMs: 20 });
  await worker.open();

  const long = task('long', ['sleep 1000'], { slot: 3 });
  const tasks = [long, task('fails', ['exit 3']), task('job', ['true'], { desired: 'COMPLETE' }), task('noimage', ['true'], { image: 'nope:latest' })];
  await worker.assign(tasks, signal);
  await until('all settled', () =>
    seen.get('long')?.state === 'RUNNING' && seen.get('fails')?.state === 'FAILED' && seen.get('job')?.state === 'COMPLETE' && seen.get('noimage')?.state === 'REJECTED',
  );
  out.statuses = Object.fromEntries([...seen].map(([id, s]) => [id, { state: s.state, err: s.err, exit: s.container_status?.exit_code }]));
  const rec = engine.containers.list().find((r) => r.spec.labels['com.docker.swarm.task.id'] === 'long');
  out.container = rec && { id: rec.id, name: rec.name, labels: rec.spec.labels, env: rec.spec.env, hostname: rec.spec.hostname, restart: rec.spec.restart_policy?.name, stopTimeout: rec.spec.stop_timeout, status: rec.state.status };

  // An agent restart (and an engine restart): the running container is re-adopted, not re-created.
  await worker.close();
  await engine.close();
  engine = await open();
  const ex2 = executor(engine);
  await ex2.configure({ id: 'node-1' } as never, signal);
  worker = new Worker({ executor: ex2, reporter, dataDir: join(dir, 'worker'), retryMs: 20 });
  await worker.open();
  out.readopted = worker.status('long')?.state;
  const again = engine.containers.list().filter((r) => r.spec.labels['com.docker.swarm.task.id'] === 'long');
  out.readoptedContainers = again.map((r) => ({ id: r.id, status: r.state.status }));

  // Desired SHUTDOWN stops it; leaving the assigned set removes every task's container.
  await worker.assign(tasks.map((t) => (t.id === 'long' ? { ...t, desired_state: 'SHUTDOWN' } : t)), signal);
  await until('long shut down', () => seen.get('long')?.state === 'SHUTDOWN');
  out.afterShutdown = engine.containers.list().find((r) => r.spec.labels['com.docker.swarm.task.id'] === 'long')?.state.status;
  await worker.assign([], signal);
  await until('containers removed', () => engine.containers.list().length === 0);
  await worker.close();
  out.containersLeft = engine.containers.list().length;
} catch (err) {
  out.error = errorMessage(err);
} finally {
  for (const r of engine.containers.list()) await engine.containers.remove(r.id, true).catch(() => undefined);
  await engine.close().catch(() => undefined);
  await removeCgroupTree(cgroupParent);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(out.error ? 1 : 0);

async function removeCgroupTree(name: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const roots = [base, ...(await readdir(base).catch(() => [] as string[])).map((c) => join(base, c))];
  const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
  const deep = async (d: string): Promise<void> => {
    if (!(await isDir(d))) return;
    for (const c of await readdir(d).catch(() => [] as string[])) if (await isDir(join(d, c))) await deep(join(d, c));
    await rmdir(d).catch(() => undefined);
  };
  for (const r of roots) await deep(join(r, name));
}
