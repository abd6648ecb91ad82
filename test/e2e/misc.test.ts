import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { withDaemon, SHOAL_BIN } from './harness.js';

const execFileP = promisify(execFile);

async function tarball(entries: { name: string; type?: 'file' | 'symlink'; linkname?: string; body?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '' });
    else pack.entry({ name: e.name }, e.body ?? 'x');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('a malicious tarball is refused with the bad entry named, and nothing is stored', async (t) => {
  const d = await withDaemon(t, { busybox: false });
  const dir = await mkdtemp(join(tmpdir(), 'shoal-evil-'));
  const cases: [string, Buffer][] = [
    ['dotdot', await tarball([{ name: 'ok.txt' }, { name: '../../escape.txt' }])],
    ['symlink', await tarball([{ name: 'link', type: 'symlink', linkname: '/etc' }, { name: 'link/passwd', body: 'pwned' }])],
  ];
  for (const [name, buf] of cases) {
    const file = join(dir, `${name}.tar`);
    await writeFile(file, buf);
    const r = await d.cli(['import', file, `evil:${name}`]);
    t.not(r.code, 0, name);
    t.regex(r.stderr, name === 'dotdot' ? /escape\.txt/ : /link\/passwd/, name);
  }
  t.is((await d.ok(['images', '-aq'])).trim(), '');
  const { stdout } = await execFileP('find', [join(d.dataRoot, 'snapshots', 'snapshots'), '-mindepth', '1', '-maxdepth', '1']).catch(() => ({ stdout: '' }));
  t.is(stdout.trim(), '');
});

test('info, version and system prune', async (t) => {
  const d = await withDaemon(t);
  const info = await d.ok(['info', '--format', '{{json .}}']);
  const parsed = JSON.parse(info) as Record<string, unknown>;
  t.is(parsed.Driver, 'overlay2');
  t.is(parsed.Images, 1);
  const version = await d.ok(['version']);
  t.regex(version, /Client:/);
  t.regex(version, /Server:/);
  await d.ok(['run', '--name', 'stopped', 'busybox', 'true']);
  await d.ok(['tag', 'busybox', 'spare:1']);
  const pruned = await d.ok(['system', 'prune', '-a', '-f']);
  t.regex(pruned, /Deleted Containers:/);
  t.regex(pruned, /Total reclaimed space/);
  t.is((await d.ok(['ps', '-aq'])).trim(), '');
  t.is((await d.ok(['images', '-q'])).trim(), '');
});

test('image listing filters: dangling, reference, digests and -a', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '--name', 'mk', 'busybox', 'sh', '-c', 'echo 1 > /one']);
  const first = (await d.ok(['commit', 'mk', 'layered:1'])).trim();
  await d.ok(['commit', 'mk', 'layered:1']); // the tag moves: the first image is now dangling
  t.regex(await d.ok(['images', '--filter', 'dangling=true', '-q', '--no-trunc']), new RegExp(first.replace('sha256:', '')));
  t.regex(await d.ok(['images', '--filter', 'reference=layer*']), /layered\s+1/);
  t.regex(await d.ok(['images', '--digests']), /DIGEST/);
  t.regex(await d.ok(['history', '--no-trunc', 'layered:1']), /sha256:/);
});

test('cpu shares and memory reservation reach the cgroup', async (t) => {
  const d = await withDaemon(t);
  const out = await d.ok(['run', '--rm', '--cpu-shares', '512', '--memory', '64m', '--memory-reservation', '32m', 'busybox', 'sh', '-c',
    'cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/memory/memory.soft_limit_in_bytes 2>/dev/null || (cat /sys/fs/cgroup/cpu.weight; cat /sys/fs/cgroup/memory.low)']);
  const [shares, soft] = out.trim().split('\n');
  t.true(shares === '512' || shares === '20', out); // v1 shares, or the v2 weight runc maps 512 to
  t.is(soft, String(32 * 1024 * 1024));
});

test('exec -it gives the command a terminal', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'tty1', 'busybox', 'sleep', '1000']);
  const { stdout } = await execFileP('script', ['-qec', `${SHOAL_BIN} -H ${d.host} exec -it tty1 sh -c 'tty; exit 5'`, '/dev/null'], { timeout: 30_000 }).catch(
    (e: { stdout: string; code: number }) => ({ stdout: e.stdout, code: e.code }),
  );
  t.regex(stdout, /\/dev\/pts\/\d+/);
});
