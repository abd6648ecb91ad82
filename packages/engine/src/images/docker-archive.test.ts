import test from 'ava';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { errorCode } from '@shoal/api';
import { ImageService, type ProgressLine } from './image-service.js';

const BUSYBOX = new URL('../../../../build/images/busybox.tar', import.meta.url).pathname;

async function service(t: { teardown(fn: () => Promise<void>): void }): Promise<ImageService> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-archive-images-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const svc = new ImageService({ root, isImageInUse: () => undefined });
  await svc.init();
  return svc;
}

async function collect(src: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function entries(buf: Buffer): Promise<Map<string, { header: tar.Header; body: Buffer }>> {
  const out = new Map<string, { header: tar.Header; body: Buffer }>();
  const extract = tar.extract();
  extract.end(buf);
  for await (const e of extract) out.set(e.header.name, { header: e.header, body: await collect(e) });
  return out;
}

type Item = { name: string; body?: Buffer | string; type?: tar.Header['type']; linkname?: string };
async function makeTar(items: Item[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const { body, ...h } of items) {
    await new Promise<void>((resolve, reject) => pack.entry(h, body ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  return done;
}

async function imported(svc: ImageService): Promise<string> {
  return svc.import(createReadStream(BUSYBOX), { ref: 'busybox:latest', changes: ['CMD ["sh"]'] });
}

test('save writes the docker 20.10 layout, deterministically', async (t) => {
  const svc = await service(t);
  const id = await imported(svc);
  const a = await collect(await svc.save(['busybox']));
  const b = await collect(await svc.save(['busybox']));
  t.true(a.equals(b), 'the same images give the same bytes');
  const files = await entries(a);
  const manifest = JSON.parse(files.get('manifest.json')?.body.toString() ?? '') as {
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }[];
  t.is(manifest.length, 1);
  t.is(manifest[0]?.Config, `${id.slice(7)}.json`);
  t.deepEqual(manifest[0]?.RepoTags, ['busybox:latest']);
  const layer = manifest[0]?.Layers[0] as string;
  t.regex(layer, /^[a-f0-9]{64}\/layer\.tar$/);
  t.true(files.get(layer)?.body.equals(await readFile(BUSYBOX)), 'layer.tar is the imported tar');
  t.is(files.get(layer.replace('layer.tar', 'VERSION'))?.body.toString(), '1.0');
  t.truthy(files.get(layer.replace('layer.tar', 'json')));
  t.deepEqual(JSON.parse(files.get('repositories')?.body.toString() ?? ''), { busybox: { latest: layer.split('/')[0] } });
  t.true(files.get(`${id.slice(7)}.json`)?.body.equals(await svc.content.read(id)));
});

test('save then load into a fresh store gives the same image and tag', async (t) => {
  const src = await service(t);
  const id = await imported(src);
  await src.tag('busybox', 'tools/bb:1');
  const archive = await collect(await src.save(['busybox', 'tools/bb:1']));
  const dst = await service(t);
  const lines: ProgressLine[] = [];
  const res = await dst.load([archive], (p) => lines.push(p));
  t.deepEqual(res, { refs: ['busybox:latest', 'tools/bb:1'], ids: [id] });
  t.deepEqual(
    lines.filter((l) => l.status.startsWith('Loaded')).map((l) => l.status),
    ['Loaded image: busybox:latest', 'Loaded image: tools/bb:1'],
  );
  const img = await dst.resolve('tools/bb:1');
  t.is(img.id, id);
  t.deepEqual(img.config.Cmd, ['sh']);
  t.true((await readdir(join(dst.snapshotter.upperDir(img.chainId), 'bin'))).includes('busybox'));
  // Loading again is idempotent.
  await dst.load([archive]);
  t.is((await dst.list()).length, 1);
});

test('save by ID carries no tags and loads as "Loaded image ID"', async (t) => {
  const src = await service(t);
  const id = await imported(src);
  const archive = await collect(await src.save([id.slice(7, 19)]));
  const dst = await service(t);
  const lines: string[] = [];
  await dst.load([archive], (p) => lines.push(p.status));
  t.deepEqual(lines.filter((l) => l.startsWith('Loaded')), [`Loaded image ID: ${id}`]);
  t.deepEqual((await dst.list())[0]?.repoTags, []);
});

test('load accepts the docker 25 blobs layout with symlinked layer paths, and OCI layouts', async (t) => {
  const src = await service(t);
  const id = await imported(src);
  const rec = src.record(id);
  const layer = rec?.layers[0];
  if (!rec || !layer) throw new Error('no record');
  const configBytes = await src.content.read(id);
  const manifestBytes = await src.content.read(rec.manifest);
  const layerBytes = await src.content.read(layer.digest);
  const hex = (d: string): string => d.slice(7);
  const blobs: Item[] = [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    { name: `blobs/sha256/${hex(layer.digest)}`, body: layerBytes },
    { name: `blobs/sha256/${hex(id)}`, body: configBytes },
    { name: `blobs/sha256/${hex(rec.manifest)}`, body: manifestBytes },
  ];
  const docker25 = await makeTar([
    ...blobs,
    { name: 'abc/', type: 'directory' },
    { name: 'abc/layer.tar', type: 'symlink', linkname: `../blobs/sha256/${hex(layer.digest)}` },
    {
      name: 'manifest.json',
      body: JSON.stringify([{ Config: `blobs/sha256/${hex(id)}`, RepoTags: ['bb25:latest'], Layers: ['abc/layer.tar'] }]),
    },
  ]);
  const a = await service(t);
  t.deepEqual(await a.load([docker25]), { refs: ['bb25:latest'], ids: [id] });

  const oci = await makeTar([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    ...blobs,
    {
      name: 'index.json',
      body: JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: rec.manifest,
            size: manifestBytes.length,
            annotations: { 'io.containerd.image.name': 'docker.io/library/ocibox:2' },
          },
        ],
      }),
    },
  ]);
  const b = await service(t);
  t.deepEqual(await b.load([oci]), { refs: ['ocibox:2'], ids: [id] });
  t.deepEqual((await b.resolve('ocibox:2')).config.Cmd, ['sh']);
});

test('load rejects archives that are not images, links out of the archive, and tampered layers', async (t) => {
  const svc = await service(t);
  const none = await t.throwsAsync(svc.load([await makeTar([{ name: 'hello.txt', body: 'hi' }])]));
  t.regex(none.message, /neither a docker archive/);
  const escape = await t.throwsAsync(
    svc.load([await makeTar([{ name: 'x/layer.tar', type: 'symlink', linkname: '../../../etc/passwd' }])]),
  );
  t.regex(escape.message, /links outside the archive/);

  const src = await service(t);
  const id = await imported(src);
  const files = await entries(await collect(await src.save(['busybox'])));
  // Swap the layer for a different (valid) tar: its diff ID no longer matches the config.
  const bad: Item[] = [...files].map(([name, { header, body }]) => ({ name, type: header.type, body }));
  const layerItem = bad.find((i) => i.name.endsWith('layer.tar'));
  if (layerItem) layerItem.body = await makeTar([{ name: 'other', body: 'x' }]);
  const err = await t.throwsAsync(svc.load([await makeTar(bad)]));
  t.is(errorCode(err), 'DataLoss');
  t.regex(err.message, /diff ID/);
  t.deepEqual(await svc.list({ all: true }), []);
  await svc.gc();
  t.deepEqual(await svc.snapshotter.walk(), [], 'the tampered layer left no snapshot');
  t.truthy(id);
});
