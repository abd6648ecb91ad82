import test from 'ava';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { secureJoin } from './secure-join.js';
import { resolveUser } from './user.js';

let root = '';
let outside = '';

test.before(async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'shoal-user-'));
  root = path.join(dir, 'root');
  outside = path.join(dir, 'outside');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await mkdir(outside);
  await writeFile(
    path.join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\n# comment\nwww:x:33:33:www:/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n',
  );
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\nwww:x:33:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\n');
});

test.after.always(async () => {
  if (root) await rm(path.dirname(root), { recursive: true, force: true });
});

test('no user is root with root’s home', async (t) => {
  t.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
});

test('a name resolves to its uid, primary gid, home and supplementary groups', async (t) => {
  t.deepEqual(await resolveUser(root, 'alice'), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' });
  t.deepEqual(await resolveUser(root, 'www'), { uid: 33, gid: 33, additionalGids: [], home: '/var/www' });
});

test('a uid in the file resolves like its name; unknown numeric ids are allowed', async (t) => {
  t.is((await resolveUser(root, '1000')).gid, 1000);
  t.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  t.deepEqual(await resolveUser(root, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
});

test('an explicit group replaces the primary group and drops supplementary ones', async (t) => {
  t.deepEqual(await resolveUser(root, 'alice:www'), { uid: 1000, gid: 33, additionalGids: [], home: '/home/alice' });
  t.is((await resolveUser(root, 'alice:77')).gid, 77);
});

test('unknown names are refused with Docker’s message', async (t) => {
  await t.throwsAsync(resolveUser(root, 'bob'), { message: /^unable to find user bob: no matching entries in passwd file/ });
  await t.throwsAsync(resolveUser(root, 'alice:nogroup'), { message: /^unable to find group nogroup: no matching entries in group file/ });
  await t.throwsAsync(resolveUser(root, 'a:b:c'), { message: /invalid user/ });
});

test('a root without /etc/passwd still takes numeric ids', async (t) => {
  const empty = await mkdtemp(path.join(tmpdir(), 'shoal-user-empty-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  t.deepEqual(await resolveUser(empty, '5:6'), { uid: 5, gid: 6, additionalGids: [], home: '/' });
  await t.throwsAsync(resolveUser(empty, 'root'), { message: /unable to find user root/ });
});

test('symlinks cannot lead out of the root: /etc/passwd -> /../../outside/passwd reads inside', async (t) => {
  const evil = await mkdtemp(path.join(tmpdir(), 'shoal-user-evil-'));
  t.teardown(() => rm(evil, { recursive: true, force: true }));
  await mkdir(path.join(evil, 'etc'));
  await writeFile(path.join(outside, 'passwd'), 'mallory:x:0:0::/:/bin/sh\n');
  const rel = path.relative(path.join(evil, 'etc'), path.join(outside, 'passwd'));
  await symlink(rel, path.join(evil, 'etc/passwd'));
  await t.throwsAsync(resolveUser(evil, 'mallory'), { message: /unable to find user mallory/ });
  await symlink(path.join(outside, 'passwd'), path.join(evil, 'etc/group'));
  t.is(await secureJoin(evil, '/etc/group'), path.join(evil, outside, 'passwd'));
  t.true((await secureJoin(evil, '/etc/passwd')).startsWith(evil + path.sep));
});

test('secureJoin keeps .. at the root and follows links inside it', async (t) => {
  t.is(await secureJoin(root, '../../etc/passwd'), path.join(root, 'etc/passwd'));
  await symlink('/etc', path.join(root, 'cfg'));
  t.is(await secureJoin(root, '/cfg/group'), path.join(root, 'etc/group'));
});
