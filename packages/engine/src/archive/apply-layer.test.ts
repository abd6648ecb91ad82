import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { isInvalidArgument } from '@shoal/api';
import { applyLayer } from './apply-layer.js';
import { diffDirectory, tarChanges } from './changes.js';

type Entry = Partial<tar.Header> & { name: string; body?: string };

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const { body, ...h } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ mtime: new Date(1_700_000_000_000), ...h }, body ?? '', (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function readTar(src: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarNames(buf: Buffer): Promise<string[]> {
  const extract = tar.extract();
  const names: string[] = [];
  extract.end(buf);
  for await (const e of extract) {
    names.push(e.header.name);
    e.resume();
  }
  return names;
}

async function workdir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-archive-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const sample: Entry[] = [
  { name: './', type: 'directory', mode: 0o755 },
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/tool', type: 'file', mode: 0o4755, uid: 1000, gid: 1001, body: '#!/bin/sh\necho hi\n' },
  { name: 'bin/alias', type: 'link', linkname: 'bin/tool' },
  { name: 'etc/motd', type: 'file', mode: 0o600, body: 'welcome' },
  { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'etc/fifo', type: 'fifo', mode: 0o644 },
];

test('applies files, modes, owners, links, devices and reports the diff ID', async (t) => {
  const dir = await workdir(t);
  const layer = await makeTar(sample);
  const dest = join(dir, 'fs');
  const res = await applyLayer([layer], dest);
  t.deepEqual(res, { diffId: sha(layer), size: layer.length });
  t.is(await readFile(join(dest, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
  const st = await stat(join(dest, 'bin/tool'));
  t.is(st.mode & 0o7777, 0o4755, 'setuid survives the chown');
  t.is(st.uid, 1000);
  t.is(st.gid, 1001);
  t.is(st.mtimeMs, 1_700_000_000_000);
  t.is((await stat(join(dest, 'bin/alias'))).ino, st.ino, 'hard link shares the inode');
  t.is((await stat(join(dest, 'etc/motd'))).mode & 0o777, 0o600);
  t.is(await readlink(join(dest, 'lib')), 'usr/lib');
  const dev = await lstat(join(dest, 'dev/null'));
  t.true(dev.isCharacterDevice());
  t.is(dev.rdev, (1 << 8) | 3);
  t.true((await lstat(join(dest, 'etc/fifo'))).isFIFO());
  t.is((await stat(join(dest, 'bin'))).mtimeMs, 1_700_000_000_000, 'directory times are set after their children');
  t.deepEqual(await readdir(dir), ['fs'], 'no temporary directory is left');
});

test('gzip and zstd layers give the diff ID of the uncompressed tar', async (t) => {
  const dir = await workdir(t);
  const layer = await makeTar(sample);
  const gz = await applyLayer([gzipSync(layer)], join(dir, 'gz'));
  t.is(gz.diffId, sha(layer));
  const zst = execFileSync('zstd', ['-q', '-c'], { input: layer });
  const z = await applyLayer([zst.subarray(0, 7), zst.subarray(7)], join(dir, 'zst'));
  t.is(z.diffId, sha(layer));
  t.is(await readFile(join(dir, 'zst', 'etc/motd'), 'utf8'), 'welcome');
});

test('whiteouts become 0/0 character devices and opaque markers an xattr', async (t) => {
  const dir = await workdir(t);
  const layer = await makeTar([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/.wh.passwd', type: 'file' },
    { name: 'var/', type: 'directory', mode: 0o755 },
    { name: 'var/.wh..wh..opq', type: 'file' },
  ]);
  const dest = join(dir, 'fs');
  await applyLayer([layer], dest);
  const wh = await lstat(join(dest, 'etc/passwd'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.deepEqual(await readdir(join(dest, 'var')), []);
  const attr = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(dest, 'var')], {
    encoding: 'utf8',
  });
  t.is(attr, 'y');
});

const malicious: [string, Entry[], RegExp][] = [
  ['a ".." entry', [{ name: 'ok', body: 'x' }, { name: '../escaped', body: 'x' }], /"\.\.\/escaped" contains "\.\."/],
  ['a nested ".." entry', [{ name: 'a/../../escaped', body: 'x' }], /contains "\.\."/],
  ['an absolute entry', [{ name: '/tmp/escaped', body: 'x' }], /"\/tmp\/escaped" has an absolute path/],
  [
    'a write through an absolute symlink',
    [
      { name: 'link', type: 'symlink', linkname: '/tmp' },
      { name: 'link/escaped', body: 'x' },
    ],
    /"link\/escaped" goes through a symlink that points outside the root/,
  ],
  [
    'a write through a relative symlink that climbs out',
    [
      { name: 'a/', type: 'directory' },
      { name: 'a/up', type: 'symlink', linkname: '../../..' },
      { name: 'a/up/escaped', body: 'x' },
    ],
    /"a\/up\/escaped" goes through a symlink/,
  ],
  [
    'a chain of symlinks that climbs out',
    [
      { name: 'one', type: 'symlink', linkname: 'two/..' },
      { name: 'two', type: 'symlink', linkname: '..' },
      { name: 'one/escaped', body: 'x' },
    ],
    /"one\/escaped" goes through a symlink/,
  ],
  [
    'a hardlink to a path outside',
    [{ name: 'pw', type: 'link', linkname: '../../../../etc/passwd' }],
    /"\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" contains "\.\."/,
  ],
  ['a hardlink to an absolute path', [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }], /has an absolute path/],
  [
    'a hardlink through a symlink',
    [
      { name: 'etc', type: 'symlink', linkname: '/etc' },
      { name: 'pw', type: 'link', linkname: 'etc/passwd' },
    ],
    /"pw" goes through a symlink/,
  ],
  [
    'a whiteout through a symlink',
    [
      { name: 'host', type: 'symlink', linkname: '/' },
      { name: 'host/.wh.etc', body: '' },
    ],
    /"host\/\.wh\.etc" goes through a symlink/,
  ],
];

for (const [what, entries, message] of malicious) {
  test(`rejects ${what} and leaves nothing behind`, async (t) => {
    const dir = await workdir(t);
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'k');
    const dest = join(dir, 'deep', 'er', 'fs');
    await mkdir(join(dir, 'deep', 'er'), { recursive: true });
    const err = await t.throwsAsync(applyLayer([await makeTar(entries)], dest));
    t.true(isInvalidArgument(err), String(err));
    t.regex(err.message, message);
    t.deepEqual(await readdir(join(dir, 'deep', 'er')), [], 'neither the layer nor its temp dir remain');
    t.deepEqual((await readdir(dir)).sort(), ['deep', 'outside']);
    t.deepEqual(await readdir(outside), ['keep']);
    await t.throwsAsync(stat('/tmp/escaped'));
  });
}

test('a stream that is not a tar is rejected', async (t) => {
  const dir = await workdir(t);
  const err = await t.throwsAsync(applyLayer([Buffer.alloc(1024, 7)], join(dir, 'fs')));
  t.true(isInvalidArgument(err));
  t.deepEqual(await readdir(dir), []);
});

test('xz layers are refused with a clear message', async (t) => {
  const dir = await workdir(t);
  const err = await t.throwsAsync(applyLayer([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2])], join(dir, 'fs')));
  t.regex(err.message, /compressed with xz are not supported/);
});

test('diffDirectory and tarChanges describe an overlay upper directory', async (t) => {
  const dir = await workdir(t);
  const lower = join(dir, 'lower');
  await applyLayer(
    [
      await makeTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/passwd', body: 'root' },
        { name: 'etc/hosts', body: 'h' },
        { name: 'var/', type: 'directory' },
        { name: 'var/old', body: 'o' },
      ]),
    ],
    lower,
  );
  const upper = join(dir, 'upper');
  await applyLayer(
    [
      await makeTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/passwd', body: 'root2' },
        { name: 'etc/.wh.hosts' },
        { name: 'etc/.wh.never-existed' },
        { name: 'var/', type: 'directory' },
        { name: 'var/.wh..wh..opq' },
        { name: 'var/new', body: 'n' },
        { name: 'new', body: 'a' },
        { name: 'new2', type: 'link', linkname: 'new' },
      ]),
    ],
    upper,
  );
  t.deepEqual(await diffDirectory([lower], upper), [
    { kind: 'C', path: '/etc' },
    { kind: 'D', path: '/etc/hosts' },
    { kind: 'C', path: '/etc/passwd' },
    { kind: 'A', path: '/new' },
    { kind: 'A', path: '/new2' },
    { kind: 'C', path: '/var' },
    { kind: 'A', path: '/var/new' },
  ]);
  const layer = await readTar(tarChanges([lower], upper));
  t.deepEqual(await tarNames(layer), [
    'etc/',
    'etc/.wh.hosts',
    'etc/passwd',
    'new',
    'new2',
    'var/',
    'var/.wh..wh..opq',
    'var/new',
  ]);
  // The layer round-trips: applying it gives the same changes.
  const again = join(dir, 'again');
  await applyLayer([layer], again);
  t.deepEqual(await diffDirectory([lower], again), await diffDirectory([lower], upper));
  t.is((await stat(join(again, 'new2'))).ino, (await stat(join(again, 'new'))).ino);
});
