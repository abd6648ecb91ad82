import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import tar from 'tar-stream';
import { extractTar, UnsafePathError } from './extract.js';
import { packPath } from './pack.js';

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'directory' || e.type === 'symlink' || e.type === 'link') {
      pack.entry({ name: e.name, type: e.type, linkname: e.linkname, mode: e.mode ?? 0o755 });
    } else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.body ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

function scratch(): { dest: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'shoal-cp-'));
  const dest = join(base, 'dest');
  const outside = join(base, 'outside');
  mkdirSync(dest);
  mkdirSync(outside);
  return { dest, outside };
}

test('a plain archive is extracted with directories, files, modes and symlinks', async (t) => {
  const { dest } = scratch();
  await extractTar(
    await tarOf([
      { name: 'app/', type: 'directory' },
      { name: 'app/run.sh', body: '#!/bin/sh\n', mode: 0o755 },
      { name: 'app/link', type: 'symlink', linkname: 'run.sh' },
      { name: 'app/hard', type: 'link', linkname: 'app/run.sh' },
    ]),
    dest,
  );
  t.is(readFileSync(join(dest, 'app/run.sh'), 'utf8'), '#!/bin/sh\n');
  t.is(lstatSync(join(dest, 'app/run.sh')).mode & 0o777, 0o755);
  t.is(readlinkSync(join(dest, 'app/link')), 'run.sh');
  t.is(lstatSync(join(dest, 'app/hard')).ino, lstatSync(join(dest, 'app/run.sh')).ino);
});

test('renameTop copies under a new name, "" spills the contents', async (t) => {
  const { dest } = scratch();
  await extractTar(await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/hosts', body: 'h' }]), dest, { renameTop: 'copy' });
  t.is(readFileSync(join(dest, 'copy/hosts'), 'utf8'), 'h');
  await extractTar(await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/passwd', body: 'p' }]), dest, { renameTop: '' });
  t.is(readFileSync(join(dest, 'passwd'), 'utf8'), 'p');
});

test('entries with .. are refused and nothing is written outside', async (t) => {
  const { dest, outside } = scratch();
  await t.throwsAsync(extractTar(await tarOf([{ name: '../outside/evil', body: 'x' }]), dest), { instanceOf: UnsafePathError });
  t.false(existsSync(join(outside, 'evil')));
});

test('absolute entry paths are refused', async (t) => {
  const { dest } = scratch();
  await t.throwsAsync(extractTar(await tarOf([{ name: '/etc/evil', body: 'x' }]), dest), { instanceOf: UnsafePathError });
});

test('a path through a symlink in the archive is refused', async (t) => {
  const { dest, outside } = scratch();
  await t.throwsAsync(
    extractTar(await tarOf([{ name: 'esc', type: 'symlink', linkname: outside }, { name: 'esc/evil', body: 'x' }]), dest),
    { instanceOf: UnsafePathError, message: /symbolic link/ },
  );
  t.false(existsSync(join(outside, 'evil')));
});

test('an existing symlink at a file path is replaced, never written through', async (t) => {
  const { dest, outside } = scratch();
  writeFileSync(join(outside, 'target'), 'original');
  symlinkSync(join(outside, 'target'), join(dest, 'f'));
  await extractTar(await tarOf([{ name: 'f', body: 'new' }]), dest);
  t.is(readFileSync(join(outside, 'target'), 'utf8'), 'original');
  t.false(lstatSync(join(dest, 'f')).isSymbolicLink());
  t.is(readFileSync(join(dest, 'f'), 'utf8'), 'new');
});

test('hard links pointing outside the destination are refused', async (t) => {
  const { dest } = scratch();
  await t.throwsAsync(extractTar(await tarOf([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]), dest), {
    instanceOf: UnsafePathError,
  });
  t.false(existsSync(join(dest, 'h')));
});

test('packPath and extractTar round-trip a directory', async (t) => {
  const { dest, outside } = scratch();
  mkdirSync(join(outside, 'src/sub'), { recursive: true });
  writeFileSync(join(outside, 'src/sub/a.txt'), 'A');
  symlinkSync('sub/a.txt', join(outside, 'src/l'));
  await extractTar(packPath(join(outside, 'src'), { name: 'copied' }) as unknown as Readable, dest);
  t.is(readFileSync(join(dest, 'copied/sub/a.txt'), 'utf8'), 'A');
  t.is(readlinkSync(join(dest, 'copied/l')), 'sub/a.txt');
});
