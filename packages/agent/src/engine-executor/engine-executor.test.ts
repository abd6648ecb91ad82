import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
// Compiled to packages/agent/dist/engine-executor/: the repository is four levels up.
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const BUSYBOX = join(REPO, 'build/images/busybox.tar');
const CHECK = fileURLToPath(new URL('./engine-check.js', import.meta.url));

/** What engine-check.js prints. */
interface CheckOutput {
  error?: string;
  statuses: Record<string, { state: string; err: string; exit?: number }>;
  description: { hostname: string; engine: { labels: Record<string, string> } };
  container: { id: string; name: string; labels: Record<string, string>; env: string[]; hostname: string; restart: string; stopTimeout: number; status: string };
  readopted: string;
  readoptedContainers: { id: string; status: string }[];
  afterShutdown: string;
  containersLeft: number;
}

const which = (bin: string): boolean => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, bin)));
const can = process.getuid?.() === 0 && which('runc') && which('unshare') && existsSync(BUSYBOX);

(can ? test : test.skip)('the engine executor runs tasks as labelled containers, reports exits, rejects a missing image and re-adopts after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-agent-engine-'));
  const { stdout } = await execFileP('unshare', ['--net', '--', process.execPath, CHECK, dir, BUSYBOX], { timeout: 120_000 }).catch(
    (err: { stdout?: string; stderr?: string; message: string }) => {
      t.log(err.stderr ?? '');
      return { stdout: err.stdout ?? err.message };
    },
  );
  const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as CheckOutput;
  t.is(out.error, undefined);
  t.like(out.statuses, {
    long: { state: 'RUNNING' },
    fails: { state: 'FAILED', err: 'task: non-zero exit (3)', exit: 3 },
    job: { state: 'COMPLETE' },
    noimage: { state: 'REJECTED', err: 'No such image: nope:latest' },
  });
  t.is(out.description.hostname, 'check-host');
  t.is(out.description.engine.labels.disk, 'ssd');
  t.is(out.container.name, 'web.3.long');
  t.like(out.container.labels, {
    team: 'blue',
    'com.docker.swarm.service.id': 'svc1',
    'com.docker.swarm.service.name': 'web',
    'com.docker.swarm.task.id': 'long',
    'com.docker.swarm.task.name': 'web.3.long',
    'com.docker.swarm.node.id': 'node-1',
  });
  t.true(out.container.env.includes('GREETING=hello'));
  t.is(out.container.hostname, 'task-host');
  t.is(out.container.restart, 'no');
  t.is(out.container.stopTimeout, 2);
  t.is(out.container.status, 'running');
  t.is(out.readopted, 'RUNNING');
  t.deepEqual(out.readoptedContainers, [{ id: out.container.id, status: 'running' }]);
  t.is(out.afterShutdown, 'exited');
  t.is(out.containersLeft, 0);
});
