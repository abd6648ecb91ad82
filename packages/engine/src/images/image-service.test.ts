import test from 'ava';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCode, isNotFound } from '@shoal/api';
import { ImageService } from './image-service.js';

const BUSYBOX = new URL('../../../../build/images/busybox.tar', import.meta.url).pathname;

interface Fixture {
  svc: ImageService;
  root: string;
  inUse: Map<string, string>;
  events: string[];
}

async function fixture(t: { teardown(fn: () => Promise<void>): void }): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-images-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const inUse = new Map<string, string>();
  const events: string[] = [];
  const svc = new ImageService({
    root,
    isImageInUse: (id) => inUse.get(id),
    events: (_type, action, _id, attrs) => events.push(attrs.name ? `${action} ${attrs.name}` : action),
  });
  await svc.init();
  return { svc, root, inUse, events };
}

async function importBusybox(svc: ImageService, ref = 'busybox:latest'): Promise<string> {
  return svc.import(createReadStream(BUSYBOX), {
    ref,
    changes: ['CMD ["sh"]', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LABEL org.test=yes'],
  });
}

test('import makes a one-layer image with the given config, listed and resolvable', async (t) => {
  const { svc, events } = await fixture(t);
  const id = await importBusybox(svc);
  t.regex(id, /^sha256:[a-f0-9]{64}$/);
  const img = await svc.resolve('busybox');
  t.is(img.id, id);
  t.deepEqual(img.config.Cmd, ['sh']);
  t.deepEqual(img.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  t.deepEqual(img.repoTags, ['busybox:latest']);
  t.is(img.imageConfig.architecture, 'amd64');
  t.is(img.imageConfig.os, 'linux');
  t.is(img.imageConfig.rootfs.diff_ids.length, 1);
  t.is(img.chainId, img.imageConfig.rootfs.diff_ids[0] as string);
  t.is((await svc.resolve(id.slice(7, 19))).id, id, 'a short ID resolves');
  t.is((await svc.resolve(id)).id, id);
  t.is((await svc.resolve('docker.io/library/busybox:latest')).id, id);

  // The layer is unpacked in the committed snapshot named by the chain ID.
  const files = await readdir(join(svc.snapshotter.upperDir(img.chainId), 'bin'));
  t.true(files.includes('busybox') && files.includes('sh'));

  const [summary, ...rest] = await svc.list();
  t.is(rest.length, 0);
  t.is(summary?.id, id);
  t.deepEqual(summary?.repoTags, ['busybox:latest']);
  t.deepEqual(summary?.labels, { 'org.test': 'yes' });
  t.true((summary?.size ?? 0) > 1_000_000);

  const inspect = await svc.inspect('busybox');
  t.is(inspect.Id, id);
  t.deepEqual(inspect.RepoTags, ['busybox:latest']);
  t.is(inspect.Comment, 'Imported from -');
  t.deepEqual((inspect.Config as { Cmd: string[] }).Cmd, ['sh']);
  t.deepEqual((inspect.RootFS as { Layers: string[] }).Layers, img.imageConfig.rootfs.diff_ids);

  const history = await svc.history('busybox');
  t.is(history.length, 1);
  t.is(history[0]?.id, id);
  t.is(history[0]?.comment, 'Imported from -');
  t.deepEqual(events, ['import', 'tag busybox:latest']);
});

test('unknown images and bad references fail with one clear sentence', async (t) => {
  const { svc } = await fixture(t);
  const err = await t.throwsAsync(svc.resolve('busybox'));
  t.true(isNotFound(err));
  t.is(err.message, 'No such image: busybox:latest');
  const bad = await t.throwsAsync(svc.resolve('Busybox'));
  t.is(errorCode(bad), 'InvalidArgument');
  t.regex(bad.message, /repository name must be lowercase/);
  const change = await t.throwsAsync(svc.import([Buffer.alloc(10)], { changes: ['RUN rm -rf /'] }));
  t.regex(change.message, /unknown instruction: RUN/);
});

test('a malicious tarball is rejected by import and leaves no image, blob or snapshot', async (t) => {
  const { svc, root } = await fixture(t);
  const tar = await import('tar-stream');
  const pack = tar.pack();
  pack.entry({ name: '../../etc/evil' }, 'x');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const err = await t.throwsAsync(svc.import(chunks, { ref: 'evil' }));
  t.is(errorCode(err), 'InvalidArgument');
  t.regex(err.message, /"\.\.\/\.\.\/etc\/evil" contains "\.\."/);
  t.deepEqual(await svc.list({ all: true }), []);
  await svc.gc();
  t.deepEqual(await svc.content.list(), []);
  t.deepEqual(await svc.snapshotter.walk(), []);
  t.deepEqual(await readdir(join(root, 'snapshots', 'snapshots')), []);
});

test('tag, untag and remove follow docker: in-use and multi-tag images are refused', async (t) => {
  const { svc, inUse, events } = await fixture(t);
  const id = await importBusybox(svc);
  await svc.tag('busybox', 'localhost:5000/tools/bb:v1');
  t.deepEqual((await svc.resolve(id)).repoTags, ['busybox:latest', 'localhost:5000/tools/bb:v1']);
  const multi = await t.throwsAsync(svc.remove(id.slice(7, 19)));
  t.is(errorCode(multi), 'Conflict');
  t.regex(multi.message, /referenced in multiple repositories/);

  // Removing one of two tags only untags.
  t.deepEqual(await svc.remove('localhost:5000/tools/bb:v1'), { untagged: ['localhost:5000/tools/bb:v1'], deleted: [] });

  inUse.set(id, 'c0ffee0123456789');
  const used = await t.throwsAsync(svc.remove('busybox'));
  t.is(errorCode(used), 'Conflict');
  t.regex(used.message, /container c0ffee012345 is using its referenced image/);
  t.is((await svc.resolve('busybox')).id, id, 'a refused remove changes nothing');
  inUse.clear();

  const res = await svc.remove('busybox');
  t.deepEqual(res.untagged, ['busybox:latest']);
  t.is(res.deleted[0], id);
  t.true(isNotFound(await t.throwsAsync(svc.resolve(id))));
  t.deepEqual(await svc.content.list(), [], 'blobs are collected');
  t.deepEqual(await svc.snapshotter.walk(), [], 'snapshots are collected');
  t.true(events.includes('untag localhost:5000/tools/bb:v1'));
  t.true(events.includes('delete'));
});

test('a digest target is refused by tag', async (t) => {
  const { svc } = await fixture(t);
  await importBusybox(svc);
  const err = await t.throwsAsync(svc.tag('busybox', `bb@sha256:${'a'.repeat(64)}`));
  t.regex(err.message, /refusing to create a tag with a digest reference/);
});

test('list filters: dangling, reference, label, before/since', async (t) => {
  const { svc } = await fixture(t);
  const a = await importBusybox(svc, 'busybox:latest');
  // Same rootfs, different config: a different image that shares the layer.
  const b = await svc.import(createReadStream(BUSYBOX), { ref: 'tools/box:1', changes: ['LABEL tier=web'] });
  await svc.tag('tools/box:1', 'busybox:latest');
  const ids = async (filters: { key: string; value: string }[]): Promise<string[]> =>
    (await svc.list({ filters })).map((i) => i.id).sort();
  t.deepEqual(await ids([{ key: 'dangling', value: 'true' }]), [a], 'the retagged image is dangling');
  t.deepEqual(await ids([{ key: 'dangling', value: 'false' }]), [b]);
  t.deepEqual(await ids([{ key: 'reference', value: 'tools/*' }]), [b]);
  t.deepEqual(await ids([{ key: 'reference', value: 'busybox' }]), [b]);
  t.deepEqual(await ids([{ key: 'reference', value: 'bus*:lat*' }]), [b]);
  t.deepEqual(await ids([{ key: 'label', value: 'tier=web' }]), [b]);
  t.deepEqual(await ids([{ key: 'label', value: 'org.test' }]), [a]);
  const err = await t.throwsAsync(svc.list({ filters: [{ key: 'color', value: 'red' }] }));
  t.regex(err.message, /invalid filter 'color'/);
  t.is((await svc.inspect(a)).Id, a);
  // The shared layer is one snapshot.
  t.is((await svc.snapshotter.walk()).length, 1);
});

test('prune removes dangling images (all unused with all) and gc their data', async (t) => {
  const { svc, inUse } = await fixture(t);
  const a = await importBusybox(svc, 'one:latest');
  const b = await svc.import(createReadStream(BUSYBOX), { changes: ['CMD ["true"]'] });
  t.deepEqual((await svc.list({ filters: [{ key: 'dangling', value: 'true' }] })).map((i) => i.id), [b]);
  const first = await svc.prune();
  t.deepEqual(first.deleted, [b]);
  t.deepEqual(first.untagged, []);
  t.is((await svc.list({ all: true })).length, 1);
  inUse.set(a, 'container1');
  const skipped = await svc.prune({ all: true });
  t.deepEqual(skipped.deleted, [], 'an image a container uses stays');
  inUse.clear();
  const all = await svc.prune({ all: true });
  t.is(all.deleted[0], a);
  t.deepEqual(all.untagged, ['one:latest']);
  t.true(all.spaceReclaimed > 1_000_000);
  t.deepEqual(await svc.content.list(), []);
  t.deepEqual(await svc.snapshotter.walk(), []);
});

test('images and tags survive a restart', async (t) => {
  const { svc, root } = await fixture(t);
  const id = await importBusybox(svc);
  const again = new ImageService({ root, isImageInUse: () => undefined });
  await again.init();
  t.is((await again.resolve('busybox')).id, id);
  t.is((await again.list()).length, 1);
  // A crash mid-import leaves an extract-* snapshot; init removes it.
  await again.snapshotter.prepare('extract-leftover', (await again.resolve('busybox')).chainId);
  const third = new ImageService({ root, isImageInUse: () => undefined });
  await third.init();
  t.deepEqual((await third.snapshotter.walk()).map((s) => s.name), [(await third.resolve('busybox')).chainId]);
});
