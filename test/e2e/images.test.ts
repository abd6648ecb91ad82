import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { withDaemon, BUSYBOX_TAR } from './harness.js';

test('import makes an image that ls, inspect and history show', async (t) => {
  const d = await withDaemon(t, { busybox: false });
  const id = (await d.ok(['import', '--change', 'CMD ["sh"]', '--change', 'ENV A=b', BUSYBOX_TAR, 'busybox:latest'])).trim();
  t.regex(id, /^sha256:[0-9a-f]{64}$/);
  const ls = await d.ok(['images']);
  t.regex(ls, /REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
  t.regex(ls, new RegExp(`busybox\\s+latest\\s+${id.slice(7, 19)}`));
  t.is((await d.ok(['images', '-q'])).trim(), id.slice(7, 19));
  t.is((await d.ok(['image', 'inspect', '-f', '{{json .Config.Cmd}}', 'busybox'])).trim(), '["sh"]');
  t.regex(await d.ok(['image', 'inspect', '-f', '{{.Config.Env}}', 'busybox']), /A=b/);
  t.regex(await d.ok(['history', 'busybox']), /IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
});

test('tag, rmi refusing an image in use, and rmi -f', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['tag', 'busybox', 'myrepo/box:v1']);
  t.regex(await d.ok(['images', '--filter', 'reference=myrepo/*']), /myrepo\/box\s+v1/);
  t.regex(await d.ok(['rmi', 'myrepo/box:v1']), /Untagged: myrepo\/box:v1/);
  await d.ok(['create', '--name', 'user', 'busybox', 'true']);
  const refused = await d.cli(['rmi', 'busybox']);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /being used by|is using/);
  t.regex(await d.ok(['images']), /busybox/);
  await d.ok(['rm', 'user']);
  t.regex(await d.ok(['rmi', 'busybox']), /Deleted: sha256:/);
  t.is((await d.ok(['images', '-q'])).trim(), '');
});

test('save and load round-trip an image between two daemons', async (t) => {
  const a = await withDaemon(t);
  const b = await withDaemon(t, { busybox: false });
  const dir = await mkdtemp(join(tmpdir(), 'shoal-save-'));
  const file = join(dir, 'busybox.tar');
  await a.ok(['save', '-o', file, 'busybox:latest']);
  t.regex(await b.ok(['load', '-i', file]), /Loaded image: busybox:latest/);
  t.is(await b.ok(['run', '--rm', 'busybox', 'echo', 'loaded']), 'loaded\n');
  t.is((await a.ok(['images', '-q', '--no-trunc'])).trim(), (await b.ok(['images', '-q', '--no-trunc'])).trim());
});

test('commit makes an image from a container; export streams its filesystem', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '--name', 'src', 'busybox', 'sh', '-c', 'echo committed > /hello']);
  await d.ok(['commit', '-c', 'CMD ["cat", "/hello"]', 'src', 'snap:1']);
  t.is(await d.ok(['run', '--rm', 'snap:1']), 'committed\n');
  const dir = await mkdtemp(join(tmpdir(), 'shoal-export-'));
  await d.ok(['export', '-o', join(dir, 'fs.tar'), 'src']);
  const { execFileSync } = await import('node:child_process');
  t.regex(execFileSync('tar', ['-tf', join(dir, 'fs.tar')]).toString(), /^\.?\/?hello$/m);
});

test('a bad reference is refused with the part that is wrong', async (t) => {
  const d = await withDaemon(t);
  const r = await d.cli(['tag', 'busybox', 'myrepo/Upper:1']);
  t.not(r.code, 0);
  t.regex(r.stderr, /must be lowercase/);
});
