import test from 'ava';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { mountAt, unmount } from '../snapshots/mount.js';
import { ImageService } from './image-service.js';

const BUSYBOX = new URL('../../../../build/images/busybox.tar', import.meta.url).pathname;

test('diff, commit and export a container file system', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-ctrfs-'));
  const mnt = await mkdtemp(join(tmpdir(), 'shoal-ctrfs-mnt-'));
  t.teardown(async () => {
    await unmount(mnt).catch(() => undefined);
    await rm(mnt, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });
  const svc = new ImageService({ root, isImageInUse: () => undefined });
  await svc.init();
  const baseId = await svc.import(createReadStream(BUSYBOX), { ref: 'busybox', changes: ['CMD ["sh"]'] });
  const base = await svc.resolve('busybox');

  // A container: an active snapshot, mounted, changed the way a process would.
  await svc.snapshotter.prepare('ctr-1', base.chainId);
  await mountAt(await svc.snapshotter.mounts('ctr-1'), mnt);
  await writeFile(join(mnt, 'etc/motd'), 'hello\n');
  await unlink(join(mnt, 'etc/hostname'));
  await writeFile(join(mnt, 'root/.ash_history'), 'ls\n');
  await unmount(mnt);

  t.deepEqual(await svc.containerChanges('ctr-1'), [
    { kind: 'C', path: '/etc' },
    { kind: 'D', path: '/etc/hostname' },
    { kind: 'A', path: '/etc/motd' },
    { kind: 'C', path: '/root' },
    { kind: 'A', path: '/root/.ash_history' },
  ]);

  const id = await svc.commit({
    snapshotKey: 'ctr-1',
    baseImageId: baseId,
    changes: ['ENV GREETING=hi'],
    message: 'add motd',
    author: 'tester',
    ref: 'busybox:motd',
    containerId: 'abc123',
  });
  const img = await svc.resolve('busybox:motd');
  t.is(img.id, id);
  t.is(img.imageConfig.rootfs.diff_ids.length, 2);
  t.deepEqual(img.config.Cmd, ['sh'], 'the base config carries over');
  t.deepEqual(img.config.Env, ['GREETING=hi']);
  const inspect = await svc.inspect(id);
  t.is(inspect.Parent, baseId);
  t.is(inspect.Comment, 'add motd');
  t.is(inspect.Author, 'tester');
  const history = await svc.history(id);
  t.is(history.length, 2);
  t.is(history[0]?.comment, 'add motd');
  t.is(history[1]?.id, '<missing>');

  // A new container from the committed image sees the changes.
  await svc.snapshotter.prepare('ctr-2', img.chainId);
  await mountAt(await svc.snapshotter.mounts('ctr-2'), mnt);
  t.is(await readFile(join(mnt, 'etc/motd'), 'utf8'), 'hello\n');
  await t.throwsAsync(readFile(join(mnt, 'etc/hostname')));
  await unmount(mnt);

  // The parent cannot go while the child exists, unless forced.
  const err = await t.throwsAsync(svc.remove(baseId));
  t.regex(err.message, /image has dependent child images|must be forced|using its referenced image/);

  // Export: the merged tree, without whiteouts.
  const names: string[] = [];
  const extract = tar.extract();
  (await svc.exportContainer('ctr-1')).pipe(extract);
  for await (const e of extract) {
    names.push(e.header.name);
    e.resume();
  }
  t.true(names.includes('etc/motd'));
  t.true(names.includes('bin/busybox'));
  t.false(names.includes('etc/hostname'));
  t.false(names.some((n) => n.includes('.wh.')));
});
