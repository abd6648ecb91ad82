import test from 'ava';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCode, nopLogger, notFound, type ContainerSpec__Output, type Mount__Output } from '@shoal/api';
import type { ContainerRecord } from '../containers/record.js';
import type { ResolvedImage } from '../containers/ports.js';
import { ANONYMOUS_LABEL, VolumeService, containerVolumes } from './volume-service.js';
import { startTestPlugin } from './test-plugin.js';

interface Fx {
  svc: VolumeService;
  base: string;
  records: ContainerRecord[];
  /** Creates a container record through VolumePort.create and "stores" it like ContainerService. */
  container: (id: string, s: Partial<ContainerSpec__Output>, imageVolumes?: string[]) => Promise<ContainerRecord>;
}

async function fixture(t: { teardown(fn: () => Promise<void>): void }, pluginsDir = '/nonexistent'): Promise<Fx> {
  const base = await mkdtemp(join(tmpdir(), 'shoal-volsvc-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const svc = new VolumeService({ root: join(base, 'volumes'), pluginsDir, logger: nopLogger });
  await svc.init();
  const records: ContainerRecord[] = [];
  svc.setContainers({
    get: (ref) => {
      const r = records.find((x) => x.id === ref);
      if (!r) throw notFound(`No such container: ${ref}`);
      return r;
    },
    list: () => records,
  });
  const container = async (id: string, s: Partial<ContainerSpec__Output>, imageVolumes: string[] = []): Promise<ContainerRecord> => {
    const rec = { id, name: id, spec: { binds: [], mounts: [], volumes_from: [], volume_driver: '', tmpfs: {}, ...s } } as unknown as ContainerRecord;
    const image = { id: 'img', chainId: '', repoTags: [], config: { Volumes: Object.fromEntries(imageVolumes.map((v) => [v, {}])) } } as ResolvedImage;
    await svc.create(rec, image);
    records.push(rec);
    return rec;
  };
  return { svc, base, records, container };
}

const mountFlag = (m: Partial<Mount__Output>): Mount__Output =>
  ({ type: 'volume', source: '', target: '', readonly: false, consistency: '', volume_nocopy: false, volume_labels: {}, volume_driver: '', volume_options: {}, bind_propagation: '', bind_create_host_path: false, tmpfs_size: '0', tmpfs_mode: 0, ...m });

test.serial('volume create, inspect and ls with filters', async (t) => {
  const { svc, container } = await fixture(t);
  const v = await svc.createVolume({ name: 'web-data', labels: { tier: 'web' } });
  t.like(v, { name: 'web-data', driver: 'local', scope: 'local', labels: { tier: 'web' }, refCount: 0 });
  t.true(v.mountpoint.endsWith('/volumes/web-data/_data'));
  t.regex(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const again = await svc.createVolume({ name: 'web-data' });
  t.is(again.createdAt, v.createdAt);
  const anon = await svc.createVolume({});
  t.regex(anon.name, /^[0-9a-f]{64}$/);
  await container('c1', { binds: ['used:/u'] });
  const names = async (filters: { key: string; value: string }[]): Promise<string[]> => (await svc.listVolumes(filters)).map((x) => x.name);
  t.deepEqual(await names([{ key: 'label', value: 'tier=web' }]), ['web-data']);
  t.deepEqual(await names([{ key: 'name', value: 'web' }]), ['web-data']);
  t.deepEqual(await names([{ key: 'dangling', value: 'false' }]), ['used']);
  t.false((await names([{ key: 'dangling', value: 'true' }])).includes('used'));
  t.deepEqual(await names([{ key: 'driver', value: 'flocker' }]), []);
  t.is(errorCode(await t.throwsAsync(svc.listVolumes([{ key: 'colour', value: 'x' }]))), 'InvalidArgument');
  t.is((await t.throwsAsync(svc.inspectVolume('nope'))).message, 'get nope: no such volume');
  t.regex((await t.throwsAsync(svc.createVolume({ name: 'a/b' }))).message, /includes invalid characters/);
});

test.serial('a volume in use by any container cannot be removed, even with force', async (t) => {
  const { svc, container } = await fixture(t);
  const rec = await container('c1', { binds: ['keep:/data'] });
  const e = await t.throwsAsync(svc.removeVolume('keep', true));
  t.is(errorCode(e), 'Conflict');
  t.is(e.message, 'remove keep: volume is in use - [c1]');
  await svc.remove(rec, true);
  t.is(containerVolumes(rec).mounts[0]?.name, 'keep');
  t.like(await svc.inspectVolume('keep'), { refCount: 1 }, 'the record is still listed until ContainerService drops it');
});

test.serial('rm -v removes the anonymous volumes (image VOLUMEs included) and keeps named ones', async (t) => {
  const { svc, container, records } = await fixture(t);
  const rec = await container('c1', { binds: ['named:/n', '/anon'] }, ['/image-vol']);
  const mounts = containerVolumes(rec).mounts;
  const anon = mounts.filter((m) => m.anonymous).map((m) => m.name);
  t.is(anon.length, 2);
  for (const a of anon) t.deepEqual((await svc.inspectVolume(a)).labels, { [ANONYMOUS_LABEL]: '' });
  await svc.remove(rec, true);
  records.length = 0;
  for (const a of anon) t.is(errorCode(await t.throwsAsync(svc.inspectVolume(a))), 'NotFound');
  t.is((await svc.inspectVolume('named')).name, 'named');
});

test.serial('a --mount bind of a missing path fails the create and keeps nothing; -v creates the host directory', async (t) => {
  const { svc, base, container } = await fixture(t);
  const e = await t.throwsAsync(container('c1', { binds: ['fresh:/f'], mounts: [mountFlag({ type: 'bind', source: join(base, 'missing'), target: '/m' })] }));
  t.is(e.message, `invalid mount config for type "bind": bind source path does not exist: ${join(base, 'missing')}`);
  t.is(errorCode(await t.throwsAsync(svc.inspectVolume('fresh'))), 'NotFound', 'the volume made on demand was taken back');
  await container('c2', { binds: [`${join(base, 'made')}:/m`] });
  t.true((await stat(join(base, 'made'))).isDirectory());
});

test.serial('prune removes unused anonymous volumes; with all, unused named ones too', async (t) => {
  const { svc, container } = await fixture(t);
  await svc.createVolume({ name: 'named1' });
  const anon = await svc.createVolume({ labels: { [ANONYMOUS_LABEL]: '' } });
  await container('c1', { binds: ['busy:/b'] });
  const first = await svc.pruneVolumes({ all: false, filters: [] });
  t.deepEqual(first.deleted, [anon.name]);
  const second = await svc.pruneVolumes({ all: true, filters: [] });
  t.deepEqual(second.deleted, ['named1']);
  t.is((await svc.inspectVolume('busy')).name, 'busy');
});

test.serial('mount seeds an empty volume from the image, once, and returns the OCI mounts parents first', async (t) => {
  const { svc, base, container } = await fixture(t);
  const rootfs = join(base, 'rootfs');
  await mkdir(join(rootfs, 'data'), { recursive: true });
  await writeFile(join(rootfs, 'data/seed.txt'), 'from image');
  const rec = await container('c1', {
    binds: ['seeded:/data', 'plain:/data/inner:nocopy', `${base}:/host:ro`],
    mounts: [mountFlag({ type: 'tmpfs', target: '/t', tmpfs_size: '65536' })],
  });
  const mounts = await svc.mount(rec, rootfs, AbortSignal.timeout(10_000));
  t.deepEqual(
    mounts.map((m) => [m.destination, m.type, m.options?.includes('ro') ? 'ro' : 'rw']),
    [
      ['/data', 'bind', 'rw'],
      ['/host', 'bind', 'ro'],
      ['/t', 'tmpfs', 'rw'],
      ['/data/inner', 'bind', 'rw'],
    ],
  );
  t.false(mounts[3]!.options!.includes('size=65536'));
  t.true(mounts[2]!.options!.includes('size=65536'));
  const seeded = (await svc.inspectVolume('seeded')).mountpoint;
  t.is(await readFile(join(seeded, 'seed.txt'), 'utf8'), 'from image');
  t.false(containerVolumes(rec).mounts.some((m) => m.copyData));
  t.deepEqual(svc.inspect(rec)[0], { Type: 'volume', Name: 'seeded', Source: seeded, Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' });
  t.is(svc.summary(rec), `seeded,plain,${base.slice(0, 15)}…`);
  await svc.unmount(rec);
});

test.serial('a plugin volume is created, mounted and removed through the plugin', async (t) => {
  const p = await startTestPlugin('testvol');
  t.teardown(() => p.stop());
  const { svc, container, records } = await fixture(t, p.pluginsDir);
  await svc.createVolume({ name: 'pv', driver: 'testvol' });
  const rec = await container('c1', { binds: ['pv:/data', 'auto:/auto'], volume_driver: 'testvol' });
  const mounts = await svc.mount(rec, join(p.dataDir, 'no-rootfs'), AbortSignal.timeout(10_000));
  t.deepEqual(
    mounts.map((m) => m.source),
    [join(p.dataDir, 'volumes/pv'), join(p.dataDir, 'volumes/auto')],
  );
  await svc.unmount(rec);
  await svc.remove(rec, false);
  records.length = 0;
  await svc.removeVolume('pv', false);
  const calls = (await p.calls()).map((c) => `${c.method} ${String((c.body.Name as string | undefined) ?? '')}`);
  t.true(calls.includes('VolumeDriver.Create pv'));
  t.true(calls.includes('VolumeDriver.Create auto'));
  t.true(calls.includes('VolumeDriver.Mount pv'));
  t.true(calls.includes('VolumeDriver.Unmount pv'));
  t.true(calls.includes('VolumeDriver.Remove pv'));
  const e = await t.throwsAsync(svc.createVolume({ name: 'bad', driver: 'testvol', options: { fail: 'no space left' } }));
  t.is(e.message, 'volume plugin "testvol": VolumeDriver.Create: no space left');
  t.regex((await t.throwsAsync(svc.createVolume({ name: 'x1', driver: 'ghost' }))).message, /volume plugin "ghost" not found/);
});
