// Docker compatibility of image archives, both directions:
//  - an archive written by `docker save` of Docker 20.10 (the committed fixture,
//    see test/fixtures/README.md) loads into shoald, lists, runs and keeps its
//    config, layers, whiteouts and opaque directories;
//  - an archive written by `shoal save` loads into a real Docker 20.10 daemon
//    with the same image ID, tags and layers, runs there, and Docker's own
//    `docker save` of it loads back into shoald.
// The second half needs Debian's docker.io; without it those tests are skipped
// (and say so in their titles).
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, withDaemon, type Daemon, type Teardown } from './harness.js';
import { readDockerArchive, type ArchiveImage } from './docker/archive.js';
import { dockerdAvailable, withDockerd } from './docker/dockerd.js';

const FIXTURE = join(REPO, 'test/fixtures/docker-20.10-busybox.tar');

const HAS_DOCKERD = dockerdAvailable();
const dockerTest = HAS_DOCKERD ? test.serial : test.skip;
const needsDocker = (title: string): string =>
  HAS_DOCKERD ? title : `${title} (skipped: needs root and Debian's docker.io — dockerd, containerd, docker — installed)`;

async function fixtureImage(): Promise<ArchiveImage> {
  const { images } = await readDockerArchive(FIXTURE);
  const img = images[0];
  if (img === undefined || images.length !== 1) throw new Error(`${FIXTURE} should hold exactly one image; re-create it with scripts/docker-fixture.sh.`);
  return img;
}

async function tempDir(t: Teardown, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What the fixture's three layers leave in the root filesystem, as seen from inside a container. */
const LAYER_PROBE = [
  'sh',
  '-c',
  'cat /etc/fixture/info; ls -A /etc/fixture; test -e /var/spool/mail && echo mail-present || echo mail-gone; ' +
    'test -d /var/spool && echo spool-kept; test /bin/ls -ef /bin/busybox && echo hardlinked; echo "$FIXTURE"',
];
const LAYER_PROBE_OUT = 'layer3\ninfo\nmail-gone\nspool-kept\nhardlinked\ndocker-20.10\n';

async function inspectField(d: Daemon, ref: string, field: string): Promise<unknown> {
  return JSON.parse(await d.ok(['image', 'inspect', '-f', `{{json ${field}}}`, ref])) as unknown;
}

test('an archive from docker save (Docker 20.10) loads with its image ID and every tag', async (t) => {
  const img = await fixtureImage();
  const d = await withDaemon(t, { busybox: false });
  const out = await d.ok(['load', '-i', FIXTURE]);
  for (const tag of img.repoTags) t.regex(out, new RegExp(`Loaded image: ${tag}\\n`));
  t.deepEqual(img.repoTags, ['busybox:fixture', 'shoal-fixture/busybox:v1']);

  const ls = await d.ok(['images']);
  const short = img.id.slice(7, 19);
  t.regex(ls, new RegExp(`busybox\\s+fixture\\s+${short}`));
  t.regex(ls, new RegExp(`shoal-fixture/busybox\\s+v1\\s+${short}`));
  t.is((await d.ok(['images', '-q', '--no-trunc', 'busybox:fixture'])).trim(), img.id);
  t.is((await d.ok(['image', 'inspect', '-f', '{{.Id}}', 'shoal-fixture/busybox:v1'])).trim(), img.id);
});

test('an image loaded from a Docker archive keeps the config and layers Docker wrote', async (t) => {
  const img = await fixtureImage();
  const d = await withDaemon(t, { busybox: false });
  await d.ok(['load', '-i', FIXTURE]);
  t.deepEqual(await inspectField(d, 'busybox:fixture', '.Config.Cmd'), ['sh']);
  t.deepEqual(await inspectField(d, 'busybox:fixture', '.Config.Cmd'), img.config.config?.Cmd);
  t.true(((await inspectField(d, 'busybox:fixture', '.Config.Env')) as string[]).includes('FIXTURE=docker-20.10'));
  t.deepEqual(await inspectField(d, 'busybox:fixture', '.Config.Labels'), { 'org.shoal.fixture': 'docker-20.10' });
  t.deepEqual(await inspectField(d, 'busybox:fixture', '.RootFS.Layers'), img.config.rootfs.diff_ids);
  const history = await d.ok(['history', '--no-trunc', 'busybox:fixture']);
  t.regex(history, /whiteout and opaque directory/);
  t.regex(history, /add \/etc\/fixture/);
});

test('a container runs from an image loaded from a Docker archive, on the layers Docker made', async (t) => {
  const d = await withDaemon(t, { busybox: false });
  await d.ok(['load', '-i', FIXTURE]);
  t.is(await d.ok(['run', '--rm', 'busybox:fixture', 'echo', 'hi']), 'hi\n');
  // Layer 3 deleted /var/spool/mail (a whiteout) and replaced /etc/fixture (an
  // opaque directory hiding layer 2's `old`); layer 1 holds hard links.
  t.is(await d.ok(['run', '--rm', 'busybox:fixture', ...LAYER_PROBE]), LAYER_PROBE_OUT);
});

test('a gzip-compressed Docker archive loads from stdin, as with docker load', async (t) => {
  const img = await fixtureImage();
  const d = await withDaemon(t, { busybox: false });
  const gz = gzipSync(await readFile(FIXTURE));
  const out = await d.ok(['load'], { input: gz });
  t.regex(out, /Loaded image: busybox:fixture\n/);
  t.is((await d.ok(['images', '-q', '--no-trunc', 'busybox:fixture'])).trim(), img.id);
  t.is(await d.ok(['run', '--rm', 'busybox:fixture', 'cat', '/etc/fixture/info']), 'layer3\n');
});

test('shoal save writes an archive whose layers match the diff IDs of its config', async (t) => {
  const d = await withDaemon(t);
  const dir = await tempDir(t, 'shoal-compat-');
  const file = join(dir, 'busybox.tar');
  await d.ok(['save', '-o', file, 'busybox:latest']);
  const { images, entries, layerDigests } = await readDockerArchive(file);
  t.is(images.length, 1);
  const img = images[0]!;
  t.is(img.id, (await d.ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox:latest'])).trim());
  t.deepEqual(img.repoTags, ['busybox:latest']);
  t.deepEqual(img.layers.map((l) => layerDigests.get(l)), img.config.rootfs.diff_ids);
  // Docker 20.10 reads the legacy `repositories` file too; older tools need it.
  t.true(entries.includes('repositories'), `entries: ${entries.join(', ')}`);
});

dockerTest(needsDocker('an archive from shoal save loads into Docker 20.10 with the same image ID, tags and layers'), async (t) => {
  const d = await withDaemon(t);
  await d.ok(['tag', 'busybox:latest', 'shoal-compat/busybox:v2']);
  const id = (await d.ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox:latest'])).trim();
  const layers = await inspectField(d, 'busybox:latest', '.RootFS.Layers');
  const dir = await tempDir(t, 'shoal-compat-');
  const file = join(dir, 'busybox.tar');
  await d.ok(['save', '-o', file, 'busybox:latest', 'shoal-compat/busybox:v2']);

  const dk = await withDockerd(t);
  t.log(`dockerd ready in ${dk.startMs} ms`);
  const out = await dk.ok(['load', '-i', file]);
  t.regex(out, /Loaded image: busybox:latest/);
  t.regex(out, /Loaded image: shoal-compat\/busybox:v2/);
  t.is((await dk.ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox:latest'])).trim(), id);
  t.deepEqual(JSON.parse(await dk.ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox:latest'])), layers);
  t.deepEqual(JSON.parse(await dk.ok(['image', 'inspect', '-f', '{{json .Config.Cmd}}', 'busybox:latest'])), ['sh']);
  const listed = (await dk.ok(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']))
    .trim()
    .split('\n')
    .sort();
  t.deepEqual(listed, [`busybox:latest ${id}`, `shoal-compat/busybox:v2 ${id}`]);
  t.is(await dk.ok(['run', '--rm', '--network', 'none', 'busybox:latest', 'echo', 'hi from docker']), 'hi from docker\n');
});

dockerTest(needsDocker('a multi-layer image goes Docker → shoal → Docker → shoal unchanged'), async (t) => {
  const img = await fixtureImage();
  const dir = await tempDir(t, 'shoal-compat-');
  const a = await withDaemon(t, { busybox: false });
  await a.ok(['load', '-i', FIXTURE]);
  const ours = join(dir, 'from-shoal.tar');
  await a.ok(['save', '-o', ours, 'busybox:fixture']);

  const dk = await withDockerd(t);
  t.regex(await dk.ok(['load', '-i', ours]), /Loaded image: busybox:fixture/);
  t.is((await dk.ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox:fixture'])).trim(), img.id);
  t.is(await dk.ok(['run', '--rm', '--network', 'none', 'busybox:fixture', ...LAYER_PROBE]), LAYER_PROBE_OUT);
  const theirs = join(dir, 'from-docker.tar');
  await dk.ok(['save', '-o', theirs, 'busybox:fixture']);

  const b = await withDaemon(t, { busybox: false });
  t.regex(await b.ok(['load', '-i', theirs]), /Loaded image: busybox:fixture/);
  t.is((await b.ok(['images', '-q', '--no-trunc', 'busybox:fixture'])).trim(), img.id);
  t.is(await b.ok(['run', '--rm', 'busybox:fixture', ...LAYER_PROBE]), LAYER_PROBE_OUT);
});

// Keeps the fixture honest: it must be what the README says it is.
test('the committed fixture is a Docker 20.10 archive with three layers', async (t) => {
  const img = await fixtureImage();
  t.is(img.layers.length, 3);
  t.is(img.config.rootfs.diff_ids.length, 3);
  t.regex(JSON.stringify(img.config), /"docker_version":"20\.10\./);
});
