import test from 'ava';
import { errorCode, type ContainerSpec__Output, type Mount__Output } from '@shoal/api';
import { notFound } from '@shoal/api';
import type { MountPoint } from './mount-point.js';
import { parseBind, resolveMountPoints, sortMountPoints } from './mount-spec.js';

type Spec = Pick<ContainerSpec__Output, 'binds' | 'mounts' | 'volumes_from' | 'volume_driver' | 'tmpfs'>;
const spec = (s: Partial<Spec>): Spec => ({ binds: [], mounts: [], volumes_from: [], volume_driver: '', tmpfs: {}, ...s });
const mount = (m: Partial<Mount__Output>): Mount__Output =>
  ({ type: 'volume', source: '', target: '', readonly: false, consistency: '', volume_nocopy: false, volume_labels: {}, volume_driver: '', volume_options: {}, bind_propagation: '', bind_create_host_path: false, tmpfs_size: '0', tmpfs_mode: 0, ...m });
const none = (ref: string): MountPoint[] => {
  throw notFound(`No such container: ${ref}`);
};

test('-v forms: anonymous, named with modes, and binds', (t) => {
  const anon = parseBind('/data', '');
  t.like(anon, { type: 'volume', name: '', anonymous: true, destination: '/data', rw: true, copyData: true });
  t.like(parseBind('cache:/var/cache/:ro', ''), { type: 'volume', name: 'cache', destination: '/var/cache', rw: false, mode: 'ro', anonymous: false });
  t.like(parseBind('db:/db:nocopy', 'flocker'), { copyData: false, driver: 'flocker', driverExplicit: true });
  t.like(parseBind('/srv/www:/www:ro,rslave', ''), { type: 'bind', source: '/srv/www', rw: false, propagation: 'rslave', createHostPath: true });
  t.like(parseBind('/srv:/srv', ''), { propagation: 'rprivate', mode: '' });
});

test('bad -v values are refused with what is wrong', (t) => {
  t.regex(t.throws(() => parseBind('a/b:/x', '')).message, /includes invalid characters for a local volume name/);
  t.regex(t.throws(() => parseBind('v:rel', '')).message, /must be absolute/);
  t.regex(t.throws(() => parseBind('v:/', '')).message, /root '\/'/);
  t.regex(t.throws(() => parseBind('v:/x:rx', '')).message, /invalid mode 'rx'/);
  t.regex(t.throws(() => parseBind('/h:/x:nocopy', '')).message, /nocopy applies to volumes/);
});

test('--mount of each type', (t) => {
  const [v, b, tm] = resolveMountPoints({
    spec: spec({
      mounts: [
        mount({ type: 'volume', source: 'vv', target: '/v', readonly: true, volume_nocopy: true, volume_options: { type: 'tmpfs' }, volume_labels: { a: 'b' }, volume_driver: 'x' }),
        mount({ type: 'bind', source: '/h', target: '/b' }),
        mount({ type: 'tmpfs', target: '/t', tmpfs_size: '1048576', tmpfs_mode: 0o1770 }),
      ],
    }),
    imageVolumes: [],
    mountsOf: none,
  });
  t.like(v, { type: 'volume', name: 'vv', rw: false, copyData: false, driver: 'x', volumeOptions: { type: 'tmpfs' }, volumeLabels: { a: 'b' }, mode: '' });
  t.like(b, { type: 'bind', source: '/h', createHostPath: false, propagation: 'rprivate' });
  t.deepEqual(tm?.tmpfsOptions, ['size=1048576', 'mode=1770']);
});

test('the same path twice in -v, --mount or --tmpfs is a duplicate mount point', (t) => {
  const dup = (s: Partial<Spec>): string => {
    const e = t.throws(() => resolveMountPoints({ spec: spec(s), imageVolumes: [], mountsOf: none }));
    t.is(errorCode(e), 'InvalidArgument');
    return e.message;
  };
  t.regex(dup({ binds: ['aa:/data', 'bb:/data/'] }), /^Duplicate mount point: \/data/);
  t.regex(dup({ binds: ['aa:/data'], mounts: [mount({ source: 'bb', target: '/data' })] }), /Duplicate mount point: \/data/);
  t.regex(dup({ binds: ['aa:/data'], tmpfs: { '/data': '' } }), /Duplicate mount point: \/data/);
});

test('image VOLUMEs become anonymous volumes unless something is mounted there', (t) => {
  const points = resolveMountPoints({ spec: spec({ binds: ['named:/a'], tmpfs: { '/c': '' } }), imageVolumes: ['/a', '/b', '/c'], mountsOf: none });
  t.deepEqual(
    points.map((p) => [p.destination, p.name, p.anonymous]),
    [
      ['/a', 'named', false],
      ['/b', '', true],
    ],
  );
});

test('--volumes-from copies the mount points, with ro/rw overriding, and -v replaces one at the same path', (t) => {
  const theirs: MountPoint[] = [
    { type: 'volume', destination: '/data', name: 'd', driver: 'local', source: '/x', rw: true, mode: 'z', propagation: '', anonymous: true, copyData: false, active: true },
    { type: 'bind', destination: '/conf', name: '', driver: '', source: '/etc/app', rw: true, mode: '', propagation: 'rprivate', anonymous: false, copyData: false },
  ];
  const points = resolveMountPoints({ spec: spec({ volumes_from: ['web:ro'], binds: ['other:/conf'] }), imageVolumes: [], mountsOf: () => theirs });
  t.like(points[0], { destination: '/data', name: 'd', rw: false, anonymous: false, active: false, from: 'web' });
  t.like(points[1], { destination: '/conf', name: 'other', type: 'volume' });
  t.is(errorCode(t.throws(() => resolveMountPoints({ spec: spec({ volumes_from: ['ghost'] }), imageVolumes: [], mountsOf: none }))), 'NotFound');
});

test('mounts are ordered parents first', (t) => {
  t.deepEqual(
    sortMountPoints([{ destination: '/a/b/c' }, { destination: '/a' }, { destination: '/a/b' }]).map((m) => m.destination),
    ['/a', '/a/b', '/a/b/c'],
  );
});
