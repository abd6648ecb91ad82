// Turns a container spec's -v, --mount, --volumes-from and the image's
// VOLUMEs into mount points, with docker's precedence and errors. Pure: the
// service does the I/O (volumes, host paths) afterwards.
import { posix } from 'node:path';
import { invalidArgument, type ContainerSpec__Output, type Mount__Output } from '@shoal/api';
import type { MountPoint } from './mount-point.js';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const PROPAGATION = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);
const MODES = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'consistent', 'cached', 'delegated', ...PROPAGATION]);

export interface MountSpecInput {
  spec: Pick<ContainerSpec__Output, 'binds' | 'mounts' | 'volumes_from' | 'volume_driver' | 'tmpfs'>;
  /** The image's VOLUME paths. */
  imageVolumes: string[];
  /** The mount points of another container (for --volumes-from). Throws NotFound for an unknown one. */
  mountsOf: (ref: string) => MountPoint[];
}

/** Cleans a container path. Throws InvalidArgument for a relative path or "/". */
export function cleanDestination(p: string, what: string): string {
  if (!p.startsWith('/')) throw invalidArgument(`invalid ${what}: the container path '${p}' must be absolute`);
  const d = posix.normalize(p).replace(/(.)\/+$/, '$1');
  if (d === '/') throw invalidArgument(`invalid ${what}: a volume cannot be mounted over the container's root '/'`);
  return d;
}

function base(type: MountPoint['type'], destination: string): MountPoint {
  return { type, destination, name: '', driver: '', source: '', rw: true, mode: '', propagation: '', anonymous: false, copyData: false };
}

/** Parses one `-v` value. Throws InvalidArgument. */
export function parseBind(value: string, defaultDriver: string): MountPoint {
  const what = `volume specification '${value}'`;
  const parts = value.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalidArgument(`invalid ${what}; use [name|/host/path:]/container/path[:ro|rw]`);
  let src = '';
  let dst: string;
  let mode = '';
  if (parts.length === 1) dst = parts[0]!;
  else if (parts.length === 2 && parts[0]!.startsWith('/') && !parts[1]!.startsWith('/')) {
    dst = parts[0]!;
    mode = parts[1]!;
  } else {
    src = parts[0]!;
    dst = parts[1]!;
    mode = parts[2] ?? '';
  }
  const modes = mode === '' ? [] : mode.split(',');
  for (const m of modes) if (!MODES.has(m)) throw invalidArgument(`invalid mode '${m}' in ${what}; use ro or rw (with z, Z, nocopy or a propagation mode)`);
  if (modes.includes('ro') && modes.includes('rw')) throw invalidArgument(`invalid mode '${mode}' in ${what}: ro and rw together`);
  const destination = cleanDestination(dst, what);
  const rw = !modes.includes('ro');
  const prop = modes.find((m) => PROPAGATION.has(m)) ?? '';
  if (src.startsWith('/')) {
    if (modes.includes('nocopy')) throw invalidArgument(`invalid mode 'nocopy' in ${what}: nocopy applies to volumes, not binds`);
    return { ...base('bind', destination), source: posix.normalize(src), rw, mode, propagation: prop || 'rprivate', createHostPath: true };
  }
  if (prop !== '') throw invalidArgument(`invalid mode '${prop}' in ${what}: propagation applies to binds, not volumes`);
  if (src !== '' && !VOLUME_NAME.test(src)) {
    throw invalidArgument(
      `"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return {
    ...base('volume', destination),
    name: src,
    driver: defaultDriver,
    driverExplicit: defaultDriver !== '',
    rw,
    mode: mode === '' ? 'z' : mode,
    anonymous: src === '',
    copyData: !modes.includes('nocopy'),
  };
}

/** Converts one `--mount`. Throws InvalidArgument. */
export function parseMountFlag(m: Mount__Output, defaultDriver: string): MountPoint {
  const what = `mount config for type "${m.type}"`;
  const destination = cleanDestination(m.target, what);
  switch (m.type) {
    case 'bind': {
      if (!m.source.startsWith('/')) throw invalidArgument(`invalid ${what}: the bind source '${m.source}' must be an absolute host path`);
      const prop = m.bind_propagation || 'rprivate';
      if (!PROPAGATION.has(prop)) throw invalidArgument(`invalid ${what}: unknown propagation mode '${prop}'`);
      return { ...base('bind', destination), source: posix.normalize(m.source), rw: !m.readonly, propagation: prop, createHostPath: m.bind_create_host_path };
    }
    case 'tmpfs': {
      if (m.source !== '') throw invalidArgument(`invalid ${what}: a tmpfs mount takes no source`);
      const opts: string[] = [];
      const size = Number(m.tmpfs_size);
      if (size < 0) throw invalidArgument(`invalid ${what}: tmpfs-size must not be negative`);
      if (size > 0) opts.push(`size=${size}`);
      if (m.tmpfs_mode) opts.push(`mode=${m.tmpfs_mode.toString(8)}`);
      return { ...base('tmpfs', destination), rw: !m.readonly, tmpfsOptions: opts };
    }
    case 'volume':
    case '': {
      if (m.source !== '' && !VOLUME_NAME.test(m.source)) {
        throw invalidArgument(`invalid ${what}: "${m.source}" includes invalid characters for a volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
      }
      const driver = m.volume_driver || defaultDriver;
      return {
        ...base('volume', destination),
        name: m.source,
        driver,
        driverExplicit: driver !== '',
        rw: !m.readonly,
        anonymous: m.source === '',
        copyData: !m.volume_nocopy,
        ...(Object.keys(m.volume_options ?? {}).length > 0 ? { volumeOptions: { ...m.volume_options } } : {}),
        ...(Object.keys(m.volume_labels ?? {}).length > 0 ? { volumeLabels: { ...m.volume_labels } } : {}),
      };
    }
    default:
      throw invalidArgument(`invalid mount type "${m.type}"; use volume, bind or tmpfs`);
  }
}

/**
 * The container's mount points in docker's precedence: --volumes-from first,
 * replaced by -v at the same path, then --mount, then the image's VOLUMEs
 * where nothing else is mounted. Throws InvalidArgument ("Duplicate mount
 * point: /data") when two of -v, --mount and --tmpfs name the same path, and
 * NotFound for an unknown --volumes-from container.
 */
export function resolveMountPoints(input: MountSpecInput): MountPoint[] {
  const { spec } = input;
  const driver = spec.volume_driver;
  const points = new Map<string, MountPoint>();
  const explicit = new Set<string>();
  for (const d of Object.keys(spec.tmpfs ?? {})) explicit.add(cleanDestination(d, `--tmpfs '${d}'`));
  const dup = (d: string): never => {
    throw invalidArgument(`Duplicate mount point: ${d}; mount each container path once`);
  };

  for (const v of spec.volumes_from) {
    const [ref = '', mode = ''] = v.split(':');
    if (ref === '' || (mode !== '' && mode !== 'ro' && mode !== 'rw')) throw invalidArgument(`invalid --volumes-from '${v}'; use container[:ro|rw]`);
    for (const mp of input.mountsOf(ref)) {
      const copy: MountPoint = { ...mp, copyData: false, active: false, from: ref };
      if (mode === 'ro') copy.rw = false;
      if (mode === 'rw') copy.rw = true;
      if (mode !== '' && copy.mode !== '') copy.mode = mode;
      delete copy.volumeOptions;
      delete copy.volumeLabels;
      if (copy.type === 'volume') copy.anonymous = false;
      points.set(copy.destination, copy);
    }
  }
  for (const b of spec.binds) {
    const mp = parseBind(b, driver);
    if (explicit.has(mp.destination)) dup(mp.destination);
    explicit.add(mp.destination);
    points.set(mp.destination, mp);
  }
  for (const m of spec.mounts) {
    const mp = parseMountFlag(m, driver);
    if (explicit.has(mp.destination)) dup(mp.destination);
    explicit.add(mp.destination);
    points.set(mp.destination, mp);
  }
  for (const v of input.imageVolumes) {
    const d = cleanDestination(v, `image VOLUME '${v}'`);
    if (points.has(d) || explicit.has(d)) continue;
    points.set(d, { ...parseBind(d, driver), mode: '' });
  }
  return [...points.values()];
}

/** Orders mounts so a parent path is mounted before the paths inside it. */
export function sortMountPoints<T extends { destination: string }>(mounts: T[]): T[] {
  const depth = (p: string): number => p.split('/').filter((x) => x !== '').length;
  return [...mounts].sort((a, b) => depth(a.destination) - depth(b.destination));
}
