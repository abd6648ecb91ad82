import test from 'ava';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCode } from '@shoal/api';
import { isMountPoint, unmount } from '../snapshots/mount.js';
import { runCommand } from '../archive/run-command.js';
import { LocalDriver } from './local-driver.js';
import { driverSuite } from './testsuite.js';

driverSuite('local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-vol-'));
  return { driver: new LocalDriver({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

async function fresh(t: { teardown(fn: () => Promise<void>): void }): Promise<{ root: string; driver: LocalDriver }> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-vol-'));
  t.teardown(async () => {
    for (const n of ['t', 'b']) await unmount(join(root, n, '_data')).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  return { root, driver: new LocalDriver({ root }) };
}

test.serial('a tmpfs volume is mounted at its first user, kept for the second, and unmounted after the last', async (t) => {
  const { root, driver } = await fresh(t);
  await driver.create('t', { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=1000' });
  const data = join(root, 't', '_data');
  t.false(await isMountPoint(data));
  await driver.mount('t', 'c1');
  t.true(await isMountPoint(data));
  t.regex(await runCommand('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', data]), /^tmpfs .*size=1024k.*uid=1000/);
  await driver.mount('t', 'c2');
  await driver.unmount('t', 'c1');
  t.true(await isMountPoint(data), 'still used by c2');
  // A daemon restart in between: the new driver knows c2 still uses it.
  const reopened = new LocalDriver({ root });
  t.deepEqual(await reopened.users('t'), ['c2']);
  await reopened.unmount('t', 'c2');
  t.false(await isMountPoint(data));
});

test.serial('a bind volume shows the host directory and removing it leaves the host files alone', async (t) => {
  const { root, driver } = await fresh(t);
  const host = join(root, 'host');
  await mkdir(host);
  await writeFile(join(host, 'keep'), 'host file');
  await driver.create('b', { type: 'none', o: 'bind', device: host });
  const p = await driver.mount('b', 'c1');
  t.is(await readFile(join(p, 'keep'), 'utf8'), 'host file');
  await driver.remove('b');
  t.is(await readFile(join(host, 'keep'), 'utf8'), 'host file');
});

test.serial('bad options are refused at create and nothing is created', async (t) => {
  const { driver } = await fresh(t);
  const e = await t.throwsAsync(driver.create('x', { type: 'tmpfs' }));
  t.is(errorCode(e), 'InvalidArgument');
  t.regex(e.message, /missing required option "device"/);
  t.deepEqual(await driver.list(), []);
  const missing = await t.throwsAsync(driver.create('y', { type: 'none', o: 'bind', device: '/does/not/exist' }));
  t.regex(missing.message, /does not exist/);
});

test.serial('a mount that fails names the volume and leaves no user behind', async (t) => {
  const { driver } = await fresh(t);
  await driver.create('t', { type: 'nosuchfs', device: 'none' });
  const e = await t.throwsAsync(driver.mount('t', 'c1'));
  t.is(errorCode(e), 'FailedPrecondition');
  t.regex(e.message, /mounting volume t failed/);
  t.deepEqual(await driver.users('t'), []);
});
