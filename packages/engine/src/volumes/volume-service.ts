// The volume service: named and anonymous volumes over the local driver and
// volume plugins, and the volume side of the container lifecycle (VolumePort).
// Metadata (driver, labels, options, creation time) lives in
// <root>/_meta/<name>.json, apart from the data, written atomically. Which
// containers use a volume is not stored here: the container records are the
// truth, read through the ContainerLookup.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  alreadyExists,
  conflict,
  errorMessage,
  invalidArgument,
  isNotFound,
  notFound,
  type DiskUsageEntry,
  type Filter__Output as Filter,
  type Logger,
} from '@shoal/api';
import type { OciMount } from '../runtime/oci.js';
import type { ResolvedImage, VolumePort } from '../containers/ports.js';
import type { ContainerRecord } from '../containers/record.js';
import { readJsonIfExists, writeFileAtomic } from '../util/fs.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { VolumeDriver } from './driver.js';
import { LocalDriver } from './local-driver.js';
import type { ContainerVolumes, MountPoint } from './mount-point.js';
import { resolveMountPoints, sortMountPoints } from './mount-spec.js';
import { PluginRegistry } from './plugin-registry.js';
import { seedVolume } from './seed.js';

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeServiceOptions {
  /** `<data-root>/volumes`. */
  root: string;
  /** Where volume plugin sockets live (default /run/shoal/plugins). */
  pluginsDir: string;
  logger: Logger;
  /** Per plugin call; default 30 s. */
  pluginTimeoutMs?: number;
}

/** What the volume service needs from the container side (bound after both exist). */
export interface ContainerLookup {
  /** Throws NotFound ("No such container: x"). */
  get(ref: string): ContainerRecord;
  list(): ContainerRecord[];
}

interface VolumeMeta {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
}

/** docker's volume object. */
export interface VolumeView {
  name: string;
  driver: string;
  mountpoint: string;
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  scope: 'local' | 'global';
  status?: Record<string, unknown>;
  /** Containers referencing the volume (any state). */
  refCount: number;
  /** Bytes, or -1 when not known. */
  size: number;
}

export interface CreateVolumeOptions {
  name?: string;
  driver?: string;
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

/** The volume slot of a container record, narrowed. */
export function containerVolumes(rec: ContainerRecord): ContainerVolumes {
  const v = rec.volumes;
  return v && Array.isArray(v.mounts) ? v : { mounts: [] };
}

export class VolumeService implements VolumePort {
  private readonly meta = new Map<string, VolumeMeta>();
  private readonly lock = new KeyedMutex();
  readonly local: LocalDriver;
  private readonly plugins: PluginRegistry;
  private containers: ContainerLookup = { get: (ref) => { throw notFound(`No such container: ${ref}`); }, list: () => [] };
  /** Containers between VolumePort.create and remove, which may not be in the lookup yet. */
  private readonly pending = new Map<string, ContainerRecord>();

  constructor(private readonly o: VolumeServiceOptions) {
    this.local = new LocalDriver({ root: o.root });
    this.plugins = new PluginRegistry({ dir: o.pluginsDir, ...(o.pluginTimeoutMs ? { timeoutMs: o.pluginTimeoutMs } : {}) });
  }

  private metaPath(name: string): string {
    return join(this.o.root, '_meta', `${name}.json`);
  }

  /** Loads volume metadata; local volumes found on disk without any are adopted. Throws when the root cannot be read. */
  async init(): Promise<void> {
    await mkdir(join(this.o.root, '_meta'), { recursive: true, mode: 0o700 });
    for (const f of await readdir(join(this.o.root, '_meta'))) {
      if (!f.endsWith('.json')) continue;
      try {
        const m = await readJsonIfExists<VolumeMeta>(join(this.o.root, '_meta', f));
        if (m) this.meta.set(m.name, m);
      } catch (err) {
        this.o.logger.error('unreadable volume metadata; skipping it', { file: f, error: errorMessage(err) });
      }
    }
    for (const v of await this.local.list()) {
      if (this.meta.has(v.name)) continue;
      const m: VolumeMeta = { name: v.name, driver: 'local', labels: {}, options: {}, createdAt: new Date().toISOString() };
      await this.saveMeta(m);
    }
  }

  /** Binds the container side (done once the container service exists). */
  setContainers(c: ContainerLookup): void {
    this.containers = c;
  }

  private async saveMeta(m: VolumeMeta): Promise<void> {
    await writeFileAtomic(this.metaPath(m.name), JSON.stringify(m));
    this.meta.set(m.name, m);
  }

  /** The driver called `name`. Throws NotFound for an unknown plugin, Unavailable for one that does not answer. */
  async driver(name: string, signal?: AbortSignal): Promise<VolumeDriver> {
    if (name === '' || name === 'local') return this.local;
    return this.plugins.driver(name, signal);
  }

  // ---- the volume API -----------------------------------------------------

  /**
   * Creates a volume (docker's `volume create`). An existing volume with the
   * same driver is returned as it is. Throws InvalidArgument for a bad name
   * or options, AlreadyExists when the name is taken by another driver,
   * NotFound for an unknown plugin, and the plugin's error.
   */
  async createVolume(req: CreateVolumeOptions, signal?: AbortSignal): Promise<VolumeView> {
    const name = req.name || randomBytes(32).toString('hex');
    const m = await this.ensureVolume(name, req.driver ?? '', req.driver !== undefined && req.driver !== '', req.options ?? {}, req.labels ?? {}, signal);
    return this.view(m.meta);
  }

  private async ensureVolume(
    name: string,
    driverName: string,
    explicit: boolean,
    options: Record<string, string>,
    labels: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<{ meta: VolumeMeta; created: boolean }> {
    if (!VOLUME_NAME.test(name)) {
      throw invalidArgument(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    return this.lock.run(name, async () => {
      const have = this.meta.get(name);
      const wanted = driverName || 'local';
      if (have) {
        if (explicit && have.driver !== wanted) {
          throw alreadyExists(`volume ${name} already exists with driver ${have.driver}; remove it first or use driver ${have.driver}`);
        }
        return { meta: have, created: false };
      }
      const driver = await this.driver(wanted, signal);
      await driver.create(name, options, signal);
      const meta: VolumeMeta = { name, driver: wanted, labels: { ...labels }, options: { ...options }, createdAt: rfc3339Seconds() };
      try {
        await this.saveMeta(meta);
      } catch (err) {
        await driver.remove(name, signal).catch(() => undefined);
        throw err;
      }
      this.o.logger.info('volume created', { 'volume.name': name, 'volume.driver': wanted });
      return { meta, created: true };
    });
  }

  /** docker's `volume inspect`. Throws NotFound ("get x: no such volume"). */
  async inspectVolume(name: string, signal?: AbortSignal): Promise<VolumeView> {
    const m = this.meta.get(name);
    if (!m) throw notFound(`get ${name}: no such volume`);
    return this.view(m, signal);
  }

  /** docker's `volume ls`. Throws InvalidArgument for an unknown filter or a bad value. */
  async listVolumes(filters: Filter[], signal?: AbortSignal): Promise<VolumeView[]> {
    const match = volumeFilter(filters, ['dangling', 'driver', 'label', 'name']);
    const refs = this.references();
    const out: VolumeView[] = [];
    for (const m of [...this.meta.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      if (!match(m, (refs.get(m.name)?.size ?? 0) > 0)) continue;
      out.push(await this.view(m, signal, false));
    }
    return out;
  }

  /**
   * Removes a volume (docker's `volume rm`). Throws Conflict ("remove x:
   * volume is in use - [ids]") for a volume any container references, even
   * with `force`; NotFound for an unknown one unless `force`; and the driver's
   * error (the volume is kept then).
   */
  async removeVolume(name: string, force: boolean, signal?: AbortSignal): Promise<void> {
    await this.lock.run(name, async () => {
      const m = this.meta.get(name);
      if (!m) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const users = this.references().get(name);
      if (users && users.size > 0) throw conflict(`remove ${name}: volume is in use - [${[...users].join(', ')}]`);
      await this.destroy(m, force, signal);
    });
  }

  private async destroy(m: VolumeMeta, force: boolean, signal?: AbortSignal): Promise<void> {
    try {
      const driver = await this.driver(m.driver, signal);
      await driver.remove(m.name, signal);
    } catch (err) {
      // A volume whose data is already gone (or whose plugin is gone, with -f) is removed from the books.
      if (!isNotFound(err) && !force) throw err;
    }
    await rm(this.metaPath(m.name), { force: true });
    this.meta.delete(m.name);
    this.o.logger.info('volume removed', { 'volume.name': m.name, 'volume.driver': m.driver });
  }

  /**
   * docker 23's `volume prune`: removes unused anonymous volumes (all unused
   * ones with `all` or the filter all=true). Throws InvalidArgument for a bad filter.
   */
  async pruneVolumes(o: { all: boolean; filters: Filter[] }, signal?: AbortSignal): Promise<{ deleted: string[]; reclaimed: number }> {
    let all = o.all;
    const rest: Filter[] = [];
    for (const f of o.filters) {
      if (f.key === 'all') all = parseBool(f.value, 'all');
      else rest.push(f);
    }
    const match = volumeFilter(rest, ['label', 'label!']);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const m of [...this.meta.values()]) {
      if (!all && !(ANONYMOUS_LABEL in m.labels)) continue;
      if (!match(m, false)) continue;
      const size = m.driver === 'local' ? await dirSize(this.local.dataPath(m.name)) : 0;
      try {
        await this.removeVolume(m.name, false, signal);
        deleted.push(m.name);
        reclaimed += size;
      } catch (err) {
        if (!isConflictLike(err)) this.o.logger.warn('pruning a volume failed', { 'volume.name': m.name, error: errorMessage(err) });
      }
    }
    return { deleted, reclaimed };
  }

  /** The `Local Volumes` line of `system df`. */
  async diskUsage(): Promise<DiskUsageEntry> {
    const refs = this.references();
    let size = 0;
    let reclaimable = 0;
    let active = 0;
    for (const m of this.meta.values()) {
      if (m.driver !== 'local') continue;
      const s = await dirSize(this.local.dataPath(m.name));
      size += s;
      if ((refs.get(m.name)?.size ?? 0) > 0) active++;
      else reclaimable += s;
    }
    const total = [...this.meta.values()].filter((m) => m.driver === 'local').length;
    return { type: 'Local Volumes', total: String(total), active: String(active), size: String(size), reclaimable: String(reclaimable) };
  }

  /** Volume name → IDs of the containers that reference it. */
  private references(except?: string): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const add = (rec: ContainerRecord): void => {
      if (rec.id === except) return;
      for (const mp of containerVolumes(rec).mounts) {
        if (mp.type !== 'volume') continue;
        let s = out.get(mp.name);
        if (!s) out.set(mp.name, (s = new Set()));
        s.add(rec.id);
      }
    };
    for (const rec of this.containers.list()) add(rec);
    for (const rec of this.pending.values()) add(rec);
    return out;
  }

  private async view(m: VolumeMeta, signal?: AbortSignal, withSize = true): Promise<VolumeView> {
    const refCount = this.references().get(m.name)?.size ?? 0;
    const base: VolumeView = {
      name: m.name,
      driver: m.driver,
      mountpoint: '',
      createdAt: m.createdAt,
      labels: m.labels,
      options: m.options,
      scope: 'local',
      refCount,
      size: -1,
    };
    if (m.driver === 'local') {
      return { ...base, mountpoint: this.local.dataPath(m.name), size: withSize ? await dirSize(this.local.dataPath(m.name)) : -1 };
    }
    try {
      const d = await this.driver(m.driver, signal);
      const v = await d.get(m.name, signal);
      const caps = await d.capabilities(signal);
      return { ...base, mountpoint: v.mountpoint, scope: caps.scope, ...(v.status ? { status: v.status } : {}) };
    } catch (err) {
      return { ...base, status: { error: errorMessage(err) } };
    }
  }

  // ---- VolumePort ---------------------------------------------------------

  async create(rec: ContainerRecord, image: ResolvedImage): Promise<void> {
    const points = resolveMountPoints({
      spec: rec.spec,
      imageVolumes: Object.keys(image.config.Volumes ?? {}),
      mountsOf: (ref) => containerVolumes(this.containers.get(ref)).mounts,
    });
    this.pending.set(rec.id, rec);
    rec.volumes = { mounts: points } satisfies ContainerVolumes;
    const made: VolumeMeta[] = [];
    try {
      for (const mp of points) {
        if (mp.type === 'bind') {
          await this.checkBindSource(mp);
        } else if (mp.type === 'volume') {
          if (mp.name === '') mp.name = randomBytes(32).toString('hex');
          const labels = { ...(mp.volumeLabels ?? {}), ...(mp.anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) };
          const { meta, created } = await this.ensureVolume(mp.name, mp.driver, mp.driverExplicit === true, mp.volumeOptions ?? {}, labels);
          mp.driver = meta.driver;
          if (meta.driver === 'local') mp.source = this.local.dataPath(meta.name);
          if (created) made.push(meta);
        }
      }
    } catch (err) {
      this.pending.delete(rec.id);
      rec.volumes = { mounts: [] } satisfies ContainerVolumes;
      for (const m of made) await this.destroy(m, true).catch(() => undefined);
      throw err;
    }
  }

  private async checkBindSource(mp: MountPoint): Promise<void> {
    const st = await stat(mp.source).catch(() => undefined);
    if (st) return;
    if (!mp.createHostPath) throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${mp.source}`);
    await mkdir(mp.source, { recursive: true, mode: 0o755 });
  }

  async mount(rec: ContainerRecord, rootfs: string, signal: AbortSignal): Promise<OciMount[]> {
    const points = containerVolumes(rec).mounts;
    const out: OciMount[] = [];
    for (const mp of sortMountPoints(points)) {
      switch (mp.type) {
        case 'bind':
          await this.checkBindSource(mp);
          out.push(bindMount(mp));
          break;
        case 'tmpfs':
          out.push({
            destination: mp.destination,
            type: 'tmpfs',
            source: 'tmpfs',
            options: ['nosuid', 'nodev', 'noexec', ...(mp.tmpfsOptions ?? []), ...(mp.rw ? [] : ['ro'])],
          });
          break;
        case 'volume': {
          const m = this.meta.get(mp.name);
          if (!m) throw notFound(`volume ${mp.name} of container ${rec.name} no longer exists; recreate it (volume create ${mp.name}) or the container`);
          const driver = await this.driver(m.driver, signal);
          const path = await driver.mount(mp.name, rec.id, signal);
          mp.active = true;
          mp.source = path;
          if (mp.copyData) {
            await seedVolume(rootfs, mp.destination, path, signal);
            mp.copyData = false;
          }
          out.push(bindMount(mp));
          break;
        }
      }
    }
    return out;
  }

  async unmount(rec: ContainerRecord): Promise<void> {
    let first: unknown;
    for (const mp of containerVolumes(rec).mounts) {
      if (mp.type !== 'volume' || !mp.active) continue;
      try {
        const m = this.meta.get(mp.name);
        if (m) await (await this.driver(m.driver)).unmount(mp.name, rec.id);
        mp.active = false;
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first instanceof Error ? first : new Error(errorMessage(first));
  }

  async remove(rec: ContainerRecord, removeAnonymous: boolean): Promise<void> {
    this.pending.delete(rec.id);
    if (!removeAnonymous) return;
    for (const mp of containerVolumes(rec).mounts) {
      if (mp.type !== 'volume' || !mp.anonymous || mp.name === '') continue;
      await this.lock
        .run(mp.name, async () => {
          const m = this.meta.get(mp.name);
          if (!m) return;
          if ((this.references(rec.id).get(mp.name)?.size ?? 0) > 0) return;
          await this.destroy(m, false);
        })
        .catch((err: unknown) => this.o.logger.warn('removing an anonymous volume failed', { 'volume.name': mp.name, error: errorMessage(err) }));
    }
  }

  inspect(rec: ContainerRecord): Record<string, unknown>[] {
    return containerVolumes(rec).mounts.map((mp) => ({
      Type: mp.type,
      ...(mp.type === 'volume' ? { Name: mp.name } : {}),
      Source: mp.type === 'volume' && mp.source === '' && mp.driver === 'local' ? this.local.dataPath(mp.name) : mp.source,
      Destination: mp.destination,
      ...(mp.type === 'volume' ? { Driver: mp.driver } : {}),
      Mode: mp.mode,
      RW: mp.rw,
      Propagation: mp.propagation,
    }));
  }

  summary(rec: ContainerRecord): string {
    return containerVolumes(rec)
      .mounts.map((mp) => {
        const n = mp.type === 'volume' ? mp.name : mp.source;
        return n.length > 15 ? `${n.slice(0, 15)}…` : n;
      })
      .filter((n) => n !== '')
      .join(',');
  }
}

function bindMount(mp: MountPoint): OciMount {
  return { destination: mp.destination, type: 'bind', source: mp.source, options: ['rbind', mp.propagation || 'rprivate', mp.rw ? 'rw' : 'ro'] };
}

function rfc3339Seconds(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isConflictLike(err: unknown): boolean {
  return (err as { code?: string }).code === 'Conflict';
}

function parseBool(v: string, key: string): boolean {
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw invalidArgument(`invalid filter '${key}=${v}'; use ${key}=true or ${key}=false`);
}

/**
 * Builds a matcher for docker's volume filters. Throws InvalidArgument for
 * a key not in `allowed` or a bad value.
 */
export function volumeFilter(filters: Filter[], allowed: string[]): (m: { name: string; driver: string; labels: Record<string, string> }, inUse: boolean) => boolean {
  const by = new Map<string, string[]>();
  for (const f of filters) {
    if (!allowed.includes(f.key)) throw invalidArgument(`invalid filter '${f.key}'; use one of ${allowed.join(', ')}`);
    by.set(f.key, [...(by.get(f.key) ?? []), f.value]);
  }
  const dangling = by.get('dangling')?.map((v) => parseBool(v, 'dangling'));
  const labelMatch = (labels: Record<string, string>, l: string): boolean => {
    const eq = l.indexOf('=');
    return eq < 0 ? l in labels : labels[l.slice(0, eq)] === l.slice(eq + 1);
  };
  return (m, inUse) => {
    if (dangling && !dangling.every((d) => d === !inUse)) return false;
    const drivers = by.get('driver');
    if (drivers && !drivers.includes(m.driver)) return false;
    const names = by.get('name');
    if (names && !names.some((n) => m.name.includes(n))) return false;
    const labels = by.get('label');
    if (labels && !labels.every((l) => labelMatch(m.labels, l))) return false;
    const notLabels = by.get('label!');
    if (notLabels && notLabels.some((l) => labelMatch(m.labels, l))) return false;
    return true;
  };
}

/** Bytes in a directory tree (not following symlinks or crossing into nothing); 0 when missing. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}
