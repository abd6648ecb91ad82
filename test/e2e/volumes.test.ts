// Volumes end to end: a real shoald (in its own network namespace), the real
// CLI, real runc containers. The containers use --network none.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, eventually, withDaemon, type Daemon } from './harness.js';

const RUN = ['run', '--network', 'none'];

async function volumeNames(d: Daemon): Promise<string[]> {
  return (await d.ok(['volume', 'ls', '-q'])).split('\n').filter((l) => l !== '');
}

test('a named volume outlives its containers; in-use removal is refused; rm -v and --rm remove only anonymous volumes', async (t) => {
  const d = await withDaemon(t);
  await d.ok([...RUN, '--name', 'w1', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo hello > /data/f']);
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'w1'])).trim();

  const refused = await d.cli(['volume', 'rm', '-f', 'data']);
  t.is(refused.code, 1);
  t.is(refused.stderr.trim(), `Error response from daemon: remove data: volume is in use - [${id}]`);

  // Replace the container: the data is still there.
  await d.ok(['rm', 'w1']);
  t.is(await d.ok([...RUN, '--rm', '-v', 'data:/data', 'busybox', 'cat', '/data/f']), 'hello\n');
  t.regex(await d.ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+data\n$/);
  const [info] = JSON.parse(await d.ok(['volume', 'inspect', 'data'])) as Record<string, unknown>[];
  t.like(info, { Name: 'data', Driver: 'local', Scope: 'local', Mountpoint: join(d.dataRoot, 'volumes/data/_data'), Labels: null });

  // rm -v: the anonymous volume goes, the named one stays.
  await d.ok([...RUN, '--name', 'a1', '-v', '/anon', '-v', 'kept:/kept', 'busybox', 'true']);
  const mounts = JSON.parse(await d.ok(['inspect', '-f', '{{json .Mounts}}', 'a1'])) as { Name: string; Destination: string; Type: string }[];
  const anon = mounts.find((m) => m.Destination === '/anon')!.Name;
  t.regex(anon, /^[0-9a-f]{64}$/);
  t.true((await volumeNames(d)).includes(anon));
  t.regex(await d.ok(['ps', '-a', '--format', '{{.Mounts}}', '--filter', 'name=a1']), /kept/);
  await d.ok(['rm', '-v', 'a1']);
  t.false((await volumeNames(d)).includes(anon));
  t.true((await volumeNames(d)).includes('kept'));

  // run --rm does the same.
  await d.ok([...RUN, '--rm', '-v', '/anon2', '-v', 'kept2:/k', 'busybox', 'true']);
  t.true(await eventually(async () => (await volumeNames(d)).sort().join(',') === 'data,kept,kept2'));

  // Plain rm keeps the anonymous volume; prune takes it, prune -a the named ones.
  await d.ok([...RUN, '--name', 'a2', '-v', '/anon3', 'busybox', 'true']);
  await d.ok(['rm', 'a2']);
  t.is((await volumeNames(d)).length, 4);
  const pruned = await d.ok(['volume', 'prune', '-f']);
  t.regex(pruned, /^Deleted Volumes:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
  t.deepEqual((await volumeNames(d)).sort(), ['data', 'kept', 'kept2']);
  // system df counts local volumes; system prune --volumes takes unused anonymous ones.
  await d.ok([...RUN, '--name', 'a3', '-v', '/anon4', 'busybox', 'true']);
  await d.ok(['rm', 'a3']);
  t.regex(await d.ok(['system', 'df']), /Local Volumes\s+4\s+0\s/);
  t.regex(await d.ok(['system', 'prune', '-f', '--volumes']), /Deleted Volumes:\n[0-9a-f]{64}\n/);
  t.deepEqual((await volumeNames(d)).sort(), ['data', 'kept', 'kept2']);
  t.regex(await d.ok(['volume', 'prune', '-a', '-f']), /Deleted Volumes:\n(data|kept|kept2)\n/);
  t.deepEqual(await volumeNames(d), []);
});

test(':ro is enforced, tmpfs sizes are enforced, --volumes-from shares mounts, and bad mounts are refused', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['volume', 'create', 'shared']);
  const ro = await d.cli([...RUN, '--rm', '-v', 'shared:/data:ro', 'busybox', 'sh', '-c', 'echo x > /data/f']);
  t.not(ro.code, 0);
  t.regex(ro.stderr, /Read-only file system/);

  // A tmpfs volume of the local driver, and a --mount tmpfs: writing past the size fails.
  t.is(await d.ok(['volume', 'create', '-d', 'local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'small']), 'small\n');
  const full = await d.cli([...RUN, '--rm', '-v', 'small:/s', 'busybox', 'dd', 'if=/dev/zero', 'of=/s/big', 'bs=1M', 'count=4']);
  t.not(full.code, 0);
  t.regex(full.stderr, /No space left on device/);
  t.is(await d.ok([...RUN, '--rm', '-v', 'small:/s', 'busybox', 'sh', '-c', 'df -k /s | tail -1 | awk "{print \\$2}"']), '1024\n');
  const full2 = await d.cli([...RUN, '--rm', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1m', 'busybox', 'dd', 'if=/dev/zero', 'of=/t/big', 'bs=1M', 'count=4']);
  t.not(full2.code, 0);
  t.regex(full2.stderr, /No space left on device/);
  const tmpfsMount = join(d.dataRoot, 'volumes/small/_data');
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${tmpfsMount} `), 'unmounted after its last user stopped');

  // --volumes-from: the same volume and bind; :ro makes them read-only.
  const host = await mkdtemp(join(tmpdir(), 'shoal-bind-'));
  t.teardown(() => rm(host, { recursive: true, force: true }));
  await writeFile(join(host, 'conf'), 'from host\n');
  await d.ok([...RUN, '--name', 'src', '-v', 'shared:/shared', '-v', `${host}:/conf`, 'busybox', 'sh', '-c', 'echo s > /shared/x']);
  t.is(await d.ok([...RUN, '--rm', '--volumes-from', 'src', 'busybox', 'cat', '/shared/x', '/conf/conf']), 's\nfrom host\n');
  const roFrom = await d.cli([...RUN, '--rm', '--volumes-from', 'src:ro', 'busybox', 'sh', '-c', 'echo y > /shared/x']);
  t.regex(roFrom.stderr, /Read-only file system/);
  await d.ok([...RUN, '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'echo back > /h/written']);
  t.is(await readFile(join(host, 'written'), 'utf8'), 'back\n');

  // -v creates a missing host directory; --mount type=bind does not.
  await d.ok([...RUN, '--rm', '-v', `${join(host, 'new/dir')}:/n`, 'busybox', 'true']);
  t.true((await stat(join(host, 'new/dir'))).isDirectory());
  const missing = await d.cli([...RUN, '--rm', '--mount', `type=bind,source=${join(host, 'nope')},target=/n`, 'busybox', 'true']);
  t.is(missing.code, 125);
  t.regex(missing.stderr, new RegExp(`bind source path does not exist: ${join(host, 'nope')}`));
  const dup = await d.cli([...RUN, '--rm', '-v', 'aa:/data', '--mount', 'type=volume,source=bb,target=/data', 'busybox', 'true']);
  t.is(dup.code, 125);
  t.regex(dup.stderr, /Duplicate mount point: \/data/);
  t.false((await volumeNames(d)).includes('aa'), 'a refused create keeps no volume it made');
  const badOpt = await d.cli(['volume', 'create', '-o', 'type=tmpfs', 'nodevice']);
  t.is(badOpt.code, 1);
  t.regex(badOpt.stderr, /missing required option "device"/);
});

test('a volume over a path the image populates is seeded with the image files, modes and owners', async (t) => {
  const d = await withDaemon(t);
  await d.ok([...RUN, '--name', 'base', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo seeded > /data/s && chmod 600 /data/s && chown 1000:1000 /data/s && ln -s s /data/link']);
  await d.ok(['commit', '--change', 'VOLUME /data', 'base', 'seeded:1']);
  const show = ['sh', '-c', 'cat /data/link; stat -c %a:%u /data/s; ls /data'];
  t.is(await d.ok([...RUN, '--rm', '-v', 'sv:/data', 'seeded:1', ...show]), 'seeded\n600:1000\nlink\ns\nsub\n');
  // The image's VOLUME alone: an anonymous volume, seeded the same way.
  t.is(await d.ok([...RUN, '--name', 'anon', 'seeded:1', ...show]), 'seeded\n600:1000\nlink\ns\nsub\n');
  const [m] = JSON.parse(await d.ok(['inspect', '-f', '{{json .Mounts}}', 'anon'])) as { Type: string; Name: string; Destination: string }[];
  t.like(m, { Type: 'volume', Destination: '/data' });
  // A volume that already has data is not seeded again, and nocopy seeds nothing.
  await d.ok([...RUN, '--rm', '-v', 'sv:/data', 'busybox', 'sh', '-c', 'rm /data/s /data/link']);
  t.is(await d.ok([...RUN, '--rm', '-v', 'sv:/data', 'seeded:1', 'ls', '/data']), 'sub\n');
  t.is(await d.ok([...RUN, '--rm', '-v', 'empty:/data:nocopy', 'seeded:1', 'ls', '/data']), '');
});

test('a volume plugin serves create, mount, unmount and remove over its socket', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'shoal-plugin-e2e-'));
  const pluginsDir = join(base, 'plugins');
  const dataDir = join(base, 'data');
  await mkdir(pluginsDir);
  const plugin = spawn(process.execPath, [join(REPO, 'test/fixtures/volume-plugin/plugin.mjs'), '--socket', join(pluginsDir, 'testvol.sock'), '--dir', dataDir], { stdio: 'ignore' });
  t.teardown(async () => {
    plugin.kill('SIGTERM');
    await rm(base, { recursive: true, force: true });
  });
  t.true(await eventually(async () => (await stat(join(pluginsDir, 'testvol.sock')).catch(() => undefined))?.isSocket() ?? false));
  const d = await withDaemon(t, { env: { SHOAL_PLUGINS_DIR: pluginsDir } });

  t.is(await d.ok(['volume', 'create', '-d', 'testvol', 'pv']), 'pv\n');
  t.regex(await d.ok(['volume', 'ls']), /testvol\s+pv/);
  await d.ok([...RUN, '--name', 'user', '-v', 'pv:/data', 'busybox', 'sh', '-c', 'echo plugged > /data/f']);
  t.is(await readFile(join(dataDir, 'volumes/pv/f'), 'utf8'), 'plugged\n');
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'user'])).trim();
  const [m] = JSON.parse(await d.ok(['inspect', '-f', '{{json .Mounts}}', 'user'])) as Record<string, unknown>[];
  t.like(m, { Type: 'volume', Name: 'pv', Driver: 'testvol', Source: join(dataDir, 'volumes/pv') });
  await d.ok(['rm', 'user']);
  await d.ok(['volume', 'rm', 'pv']);

  const calls = (await readFile(join(dataDir, 'calls.log'), 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { method: string; body: { Name?: string; ID?: string } });
  const seen = calls.filter((c) => c.method !== 'VolumeDriver.Get' && c.method !== 'VolumeDriver.Capabilities' && c.method !== 'VolumeDriver.Path');
  t.deepEqual(
    seen.map((c) => [c.method, c.body.Name ?? '', c.body.ID ?? '']),
    [
      ['Plugin.Activate', '', ''],
      ['VolumeDriver.Create', 'pv', ''],
      ['VolumeDriver.Mount', 'pv', id],
      ['VolumeDriver.Unmount', 'pv', id],
      ['VolumeDriver.Remove', 'pv', ''],
    ],
  );
  t.false(await stat(join(dataDir, 'volumes/pv')).then(() => true, () => false));

  const fails = await d.cli(['volume', 'create', '-d', 'testvol', '-o', 'fail=disk on fire', 'bad']);
  t.is(fails.code, 1);
  t.is(fails.stderr.trim(), 'Error response from daemon: volume plugin "testvol": VolumeDriver.Create: disk on fire');
  const ghost = await d.cli(['volume', 'create', '-d', 'ghost', 'g1']);
  t.regex(ghost.stderr, /volume plugin "ghost" not found/);
});

test('a tmpfs volume in use survives a daemon restart and is unmounted when its container stops afterwards', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=2m', 'scratch']);
  const mountPoint = join(d.dataRoot, 'volumes/scratch/_data');
  const mounted = async (): Promise<boolean> => (await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${mountPoint} `);
  await d.ok([...RUN, '-d', '--name', 'long', '-v', 'scratch:/s', 'busybox', 'sh', '-c', 'echo kept > /s/f; sleep 1000']);
  t.true(await eventually(mounted));
  await d.stop();
  await d.start();
  t.is(await d.ok(['exec', 'long', 'cat', '/s/f']), 'kept\n');
  t.true(await mounted());
  await d.ok(['stop', '-t', '1', 'long']);
  t.true(await eventually(async () => !(await mounted())));
  const refused = await d.cli(['volume', 'rm', 'scratch']);
  t.regex(refused.stderr, /volume is in use/);
});
