import test from 'ava';
import { errorCode } from '@shoal/api';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginRegistry } from './plugin-registry.js';
import { driverSuite } from './testsuite.js';
import { startTestPlugin } from './test-plugin.js';

driverSuite('plugin', async () => {
  const p = await startTestPlugin('testvol');
  const driver = await new PluginRegistry({ dir: p.pluginsDir }).driver('testvol');
  return { driver, cleanup: () => p.stop() };
});

test.serial('the plugin is activated once and each call carries docker\'s fields', async (t) => {
  const p = await startTestPlugin('logged');
  t.teardown(() => p.stop());
  const reg = new PluginRegistry({ dir: p.pluginsDir });
  const d = await reg.driver('logged');
  t.is(await reg.driver('logged'), d);
  await d.create('v', { a: 'b' });
  const path = await d.mount('v', 'cid1');
  t.is(path, join(p.dataDir, 'volumes', 'v'));
  await d.unmount('v', 'cid1');
  t.deepEqual(await p.calls(), [
    { method: 'Plugin.Activate', body: {} },
    { method: 'VolumeDriver.Create', body: { Name: 'v', Opts: { a: 'b' } } },
    { method: 'VolumeDriver.Mount', body: { Name: 'v', ID: 'cid1' } },
    { method: 'VolumeDriver.Unmount', body: { Name: 'v', ID: 'cid1' } },
  ]);
});

test.serial("the plugin's Err reaches the caller with the plugin's name", async (t) => {
  const p = await startTestPlugin('fails');
  t.teardown(() => p.stop());
  const d = await new PluginRegistry({ dir: p.pluginsDir }).driver('fails');
  const e = await t.throwsAsync(d.create('v', { fail: 'disk on fire' }));
  t.is(e.message, 'volume plugin "fails": VolumeDriver.Create: disk on fire');
  t.is(errorCode(e), 'FailedPrecondition');
});

test.serial('a plugin without a socket is not found, with where it was looked for', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-plugins-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const e = await t.throwsAsync(new PluginRegistry({ dir }).driver('ghost'));
  t.is(errorCode(e), 'NotFound');
  t.true(e.message.includes(join(dir, 'ghost.sock')));
});

test.serial('a plugin that went away is reported unavailable', async (t) => {
  const p = await startTestPlugin('gone');
  const d = await new PluginRegistry({ dir: p.pluginsDir }).driver('gone');
  await p.stop();
  const e = await t.throwsAsync(d.list());
  t.is(errorCode(e), 'Unavailable');
  t.regex(e.message, /volume plugin "gone" did not answer VolumeDriver.List/);
});
