// The volume driver conformance suite: the local driver and the plugin
// driver (against the test plugin) both run it. Not a test file itself;
// `x.test.ts` files call it.
import test from 'ava';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound } from '@shoal/api';
import type { VolumeDriver } from './driver.js';

export interface DriverFixture {
  driver: VolumeDriver;
  cleanup(): Promise<void>;
}

export function driverSuite(name: string, make: () => Promise<DriverFixture>): void {
  const setup = async (t: { teardown(fn: () => Promise<void>): void }): Promise<VolumeDriver> => {
    const fx = await make();
    t.teardown(() => fx.cleanup());
    return fx.driver;
  };

  test.serial(`${name}: a created volume can be got and is listed; creating it again is harmless`, async (t) => {
    const d = await setup(t);
    await d.create('vol1', {});
    await d.create('vol1', {});
    t.is((await d.get('vol1')).name, 'vol1');
    t.deepEqual(
      (await d.list()).map((v) => v.name),
      ['vol1'],
    );
  });

  test.serial(`${name}: mount gives a writable host directory whose data survives unmount and remount`, async (t) => {
    const d = await setup(t);
    await d.create('data', {});
    const p = await d.mount('data', 'c1');
    t.true((await stat(p)).isDirectory());
    t.is(await d.path('data'), p);
    await writeFile(join(p, 'f'), 'kept');
    await d.unmount('data', 'c1');
    const again = await d.mount('data', 'c2');
    t.is(await readFile(join(again, 'f'), 'utf8'), 'kept');
    await d.unmount('data', 'c2');
  });

  test.serial(`${name}: an unknown volume is not found, and unmounting an id that holds no mount is harmless`, async (t) => {
    const d = await setup(t);
    t.true(isNotFound(await t.throwsAsync(d.get('nope'))));
    await d.create('v2', {});
    await t.notThrowsAsync(d.unmount('v2', 'never-mounted'));
  });

  test.serial(`${name}: a removed volume is gone with its data`, async (t) => {
    const d = await setup(t);
    await d.create('gone', {});
    const p = await d.mount('gone', 'c1');
    await writeFile(join(p, 'f'), 'x');
    await d.unmount('gone', 'c1');
    await d.remove('gone');
    t.true(isNotFound(await t.throwsAsync(d.get('gone'))));
    t.deepEqual(await d.list(), []);
    await t.throwsAsync(stat(join(p, 'f')));
    await t.throwsAsync(d.remove('gone'));
  });

  test.serial(`${name}: capabilities say the volumes are local to this host`, async (t) => {
    const d = await setup(t);
    t.is((await d.capabilities()).scope, 'local');
  });
}
