import test from 'ava';
import { chown, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile, chmod, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot, seedVolume } from './seed.js';

async function dirs(t: { teardown(fn: () => Promise<void>): void }): Promise<{ rootfs: string; vol: string }> {
  const base = await mkdtemp(join(tmpdir(), 'shoal-seed-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const rootfs = join(base, 'rootfs');
  const vol = join(base, 'vol');
  await mkdir(rootfs);
  await mkdir(vol);
  return { rootfs, vol };
}

test('an empty volume gets the image files with their modes, owners and symlinks, and the directory\'s own mode and owner', async (t) => {
  const { rootfs, vol } = await dirs(t);
  await mkdir(join(rootfs, 'data/sub'), { recursive: true });
  await writeFile(join(rootfs, 'data/sub/conf'), 'x=1\n');
  await chmod(join(rootfs, 'data/sub/conf'), 0o640);
  await chown(join(rootfs, 'data/sub/conf'), 1234, 5678);
  await symlink('sub/conf', join(rootfs, 'data/link'));
  await chmod(join(rootfs, 'data'), 0o750);
  await chown(join(rootfs, 'data'), 999, 999);
  t.true(await seedVolume(rootfs, '/data', vol));
  t.is(await readFile(join(vol, 'sub/conf'), 'utf8'), 'x=1\n');
  const st = await lstat(join(vol, 'sub/conf'));
  t.is(st.mode & 0o777, 0o640);
  t.is(st.uid, 1234);
  t.is(st.gid, 5678);
  t.is(await readlink(join(vol, 'link')), 'sub/conf');
  const root = await lstat(vol);
  t.is(root.mode & 0o777, 0o750);
  t.is(root.uid, 999);
});

test('a volume that already has data is not seeded; a path the image lacks seeds nothing', async (t) => {
  const { rootfs, vol } = await dirs(t);
  await mkdir(join(rootfs, 'data'));
  await writeFile(join(rootfs, 'data/image-file'), 'i');
  await writeFile(join(vol, 'mine'), 'm');
  t.false(await seedVolume(rootfs, '/data', vol));
  t.deepEqual(await readdir(vol), ['mine']);
  t.false(await seedVolume(rootfs, '/nothing/here', vol));
});

test('symlinks in the container path resolve inside the rootfs, never to the host', async (t) => {
  const { rootfs } = await dirs(t);
  await mkdir(join(rootfs, 'real'));
  await symlink('/real', join(rootfs, 'abs'));
  await symlink('../../../../real', join(rootfs, 'up'));
  await symlink('/etc', join(rootfs, 'hostetc'));
  t.is(await resolveInRoot(rootfs, '/abs'), join(rootfs, 'real'));
  t.is(await resolveInRoot(rootfs, '/up'), join(rootfs, 'real'));
  t.is(await resolveInRoot(rootfs, '/hostetc'), undefined, 'the rootfs has no /etc');
});
