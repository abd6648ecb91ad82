// The snapshotter conformance suite: every Snapshotter implementation runs it
// (real mounts, so root). Not a test file itself; `x.test.ts` files call it.
import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCode, isNotFound } from '@shoal/api';
import { mountAt, unmount, type Mount } from './mount.js';
import type { Snapshotter } from './snapshotter.js';

export interface SnapshotterFixture {
  snapshotter: Snapshotter;
  /** A fresh instance over the same root, as after a daemon restart. */
  reopen(): Promise<Snapshotter>;
  cleanup(): Promise<void>;
}

/** Mounts, runs `fn` on the mount point, and always unmounts. */
async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-mnt-'));
  await mountAt(mounts, dir);
  try {
    return await fn(dir);
  } finally {
    await unmount(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function commitLayer(s: Snapshotter, name: string, parent: string | undefined, files: Record<string, string | null>): Promise<void> {
  const key = `${name}-active`;
  const mounts = await s.prepare(key, parent);
  await withMounted(mounts, async (dir) => {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) await unlink(join(dir, path));
      else {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), content);
      }
    }
  });
  await s.commit(name, key);
}

export function snapshotterSuite(name: string, make: () => Promise<SnapshotterFixture>): void {
  const setup = async (t: { teardown(fn: () => Promise<void>): void }): Promise<SnapshotterFixture> => {
    const fx = await make();
    t.teardown(() => fx.cleanup());
    return fx;
  };

  test.serial(`${name}: a base snapshot is writable, then committed read-only`, async (t) => {
    const { snapshotter: s } = await setup(t);
    await commitLayer(s, 'base', undefined, { 'etc/hostname': 'base\n' });
    const info = await s.stat('base');
    t.is(info.kind, 'committed');
    t.is(info.parent, undefined);
    t.true((await s.usage('base')).size >= 5);
    t.is(errorCode(await t.throwsAsync(s.mounts('base'))), 'FailedPrecondition');
  });

  test.serial(`${name}: a child sees its parent, and its changes stay in its own layer`, async (t) => {
    const { snapshotter: s } = await setup(t);
    await commitLayer(s, 'base', undefined, { a: 'a1', b: 'b1' });
    await commitLayer(s, 'top', 'base', { a: null, b: 'b2', c: 'c2' });
    t.is((await s.stat('top')).parent, 'base');
    await s.view('v-base', 'base');
    await withMounted(await s.mounts('v-base'), async (dir) => {
      t.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
      t.is(await readFile(join(dir, 'b'), 'utf8'), 'b1');
    });
    await s.view('v-top', 'top');
    await withMounted(await s.mounts('v-top'), async (dir) => {
      t.deepEqual((await readdir(dir)).sort(), ['b', 'c']);
      t.is(await readFile(join(dir, 'b'), 'utf8'), 'b2');
      const err = await t.throwsAsync(writeFile(join(dir, 'd'), 'x'));
      t.is((err as NodeJS.ErrnoException).code, 'EROFS', 'a view is read-only');
    });
  });

  test.serial(`${name}: with many layers the topmost version of a file wins`, async (t) => {
    const { snapshotter: s } = await setup(t);
    let parent: string | undefined;
    for (let i = 1; i <= 6; i++) {
      await commitLayer(s, `l${i}`, parent, { x: `v${i}`, [`only${i}`]: String(i) });
      parent = `l${i}`;
    }
    await s.prepare('rw', 'l6');
    await withMounted(await s.mounts('rw'), async (dir) => {
      t.is(await readFile(join(dir, 'x'), 'utf8'), 'v6');
      t.is((await readdir(dir)).length, 7);
      await writeFile(join(dir, 'x'), 'mine');
    });
    await withMounted(await s.mounts('rw'), async (dir) => {
      t.is(await readFile(join(dir, 'x'), 'utf8'), 'mine', 'an active snapshot keeps its writes across mounts');
    });
  });

  test.serial(`${name}: bad keys and parents fail with clear codes`, async (t) => {
    const { snapshotter: s } = await setup(t);
    await commitLayer(s, 'base', undefined, { f: '1' });
    await s.prepare('busy', 'base');
    t.is(errorCode(await t.throwsAsync(s.prepare('busy', 'base'))), 'AlreadyExists');
    t.true(isNotFound(await t.throwsAsync(s.prepare('x', 'nope'))));
    t.is(errorCode(await t.throwsAsync(s.prepare('x', 'busy'))), 'FailedPrecondition');
    t.is(errorCode(await t.throwsAsync(s.commit('base2', 'base'))), 'FailedPrecondition');
    t.is(errorCode(await t.throwsAsync(s.commit('base', 'busy'))), 'AlreadyExists');
    t.true(isNotFound(await t.throwsAsync(s.stat('nope'))));
    t.true(isNotFound(await t.throwsAsync(s.remove('nope'))));
  });

  test.serial(`${name}: a parent cannot be removed while children build on it`, async (t) => {
    const { snapshotter: s } = await setup(t);
    await commitLayer(s, 'base', undefined, { f: '1' });
    await s.prepare('child', 'base');
    t.is(errorCode(await t.throwsAsync(s.remove('base'))), 'FailedPrecondition');
    await s.remove('child');
    await s.remove('base');
    t.deepEqual(await s.walk(), []);
  });

  test.serial(`${name}: snapshots survive a restart`, async (t) => {
    const fx = await setup(t);
    await commitLayer(fx.snapshotter, 'base', undefined, { f: 'kept' });
    await fx.snapshotter.prepare('rw', 'base', { labels: { owner: 'test' } });
    const again = await fx.reopen();
    t.deepEqual(
      (await again.walk()).map((i) => [i.name, i.kind, i.parent, i.labels]),
      [
        ['base', 'committed', undefined, {}],
        ['rw', 'active', 'base', { owner: 'test' }],
      ],
    );
    await withMounted(await again.mounts('rw'), async (dir) => {
      t.is(await readFile(join(dir, 'f'), 'utf8'), 'kept');
    });
  });
}
