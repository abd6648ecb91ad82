import { lstat, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@shoal/api';
import type { Mount } from './mount.js';
import type { PrepareOptions, SnapshotInfo, SnapshotKind, SnapshotUsage, Snapshotter } from './snapshotter.js';

interface SnapshotRecord {
  id: number;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
  usage?: SnapshotUsage;
}

interface Metadata {
  version: 1;
  nextId: number;
  snapshots: Record<string, SnapshotRecord>;
}

/**
 * Overlayfs snapshots under `<root>/snapshots/<id>/{fs,work}`, with their
 * metadata in `<root>/metadata.json` (replaced atomically). Every change runs
 * under one in-process lock, so concurrent callers see a consistent chain.
 */
export class OverlaySnapshotter implements Snapshotter {
  readonly root: string;
  private meta: Metadata = { version: 1, nextId: 1, snapshots: {} };
  private lock: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.root = root;
  }

  private get metaPath(): string {
    return join(this.root, 'metadata.json');
  }

  private dir(id: number): string {
    return join(this.root, 'snapshots', String(id));
  }

  /** Loads the metadata and removes snapshot directories no record names (left by a crash). */
  async init(): Promise<void> {
    await mkdir(join(this.root, 'snapshots'), { recursive: true });
    try {
      this.meta = JSON.parse(await readFile(this.metaPath, 'utf8')) as Metadata;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const known = new Set(Object.values(this.meta.snapshots).map((s) => String(s.id)));
    for (const name of await readdir(join(this.root, 'snapshots'))) {
      if (!known.has(name)) await rm(join(this.root, 'snapshots', name), { recursive: true, force: true });
    }
  }

  private async save(): Promise<void> {
    // Fsynced file and directory: a committed layer must not vanish from the metadata after a crash.
    await writeFileAtomic(this.metaPath, JSON.stringify(this.meta));
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private get(key: string): SnapshotRecord {
    const rec = this.meta.snapshots[key];
    if (!rec) throw notFound(`No such snapshot: ${key}.`);
    return rec;
  }

  /** The fs directories of `key`'s ancestors, nearest first (overlay's lowerdir order). */
  private chain(parent: string | undefined): string[] {
    const out: string[] = [];
    for (let p = parent; p !== undefined; p = this.get(p).parent) out.push(join(this.dir(this.get(p).id), 'fs'));
    return out;
  }

  /**
   * The writable directory of an active snapshot (overlay upperdir), or the
   * contents of a committed one.
   *
   * @throws NotFound for an unknown key.
   */
  upperDir(key: string): string {
    return join(this.dir(this.get(key).id), 'fs');
  }

  /** The fs directories below `key`, nearest first. @throws NotFound for an unknown key. */
  lowerDirs(key: string): string[] {
    return this.chain(this.get(key).parent);
  }

  private create(kind: SnapshotKind, key: string, parent: string | undefined, options: PrepareOptions): Promise<Mount[]> {
    return this.locked(async () => {
      if (key === '') throw invalidArgument('A snapshot key must not be empty.');
      if (this.meta.snapshots[key]) throw alreadyExists(`Snapshot ${key} already exists.`);
      if (parent !== undefined && this.get(parent).kind !== 'committed') {
        throw failedPrecondition(`Snapshot ${parent} is not committed, so it cannot be a parent.`);
      }
      const id = this.meta.nextId++;
      await mkdir(join(this.dir(id), 'fs'), { recursive: true, mode: 0o755 });
      if (kind === 'active') await mkdir(join(this.dir(id), 'work'), { mode: 0o700 });
      const rec: SnapshotRecord = { id, kind, created: new Date().toISOString(), labels: { ...options.labels } };
      if (parent !== undefined) rec.parent = parent;
      this.meta.snapshots[key] = rec;
      try {
        await this.save();
      } catch (err) {
        delete this.meta.snapshots[key];
        await rm(this.dir(id), { recursive: true, force: true });
        throw err;
      }
      return this.mountsOf(key);
    });
  }

  /**
   * Creates a writable snapshot on top of committed `parent` and returns how to mount it.
   *
   * @throws AlreadyExists for a used key; NotFound for an unknown parent;
   *   FailedPrecondition when the parent is not committed.
   */
  prepare(key: string, parent?: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('active', key, parent, options);
  }

  /**
   * Creates a read-only view of committed `parent`.
   *
   * @throws AlreadyExists for a used key; NotFound for an unknown parent;
   *   FailedPrecondition when the parent is not committed.
   */
  view(key: string, parent: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('view', key, parent, options);
  }

  private mountsOf(key: string): Mount[] {
    const rec = this.get(key);
    const lowers = this.chain(rec.parent);
    const fs = join(this.dir(rec.id), 'fs');
    if (rec.kind === 'committed') throw failedPrecondition(`Snapshot ${key} is committed; prepare or view it to mount it.`);
    if (rec.kind === 'view') {
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0] as string, options: ['rbind', 'ro'] }];
      if (lowers.length === 0) return [{ type: 'bind', source: fs, options: ['rbind', 'ro'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: fs, options: ['rbind', 'rw'] }];
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`workdir=${join(this.dir(rec.id), 'work')}`, `upperdir=${fs}`, `lowerdir=${lowers.join(':')}`],
      },
    ];
  }

  /** @throws NotFound for an unknown key; FailedPrecondition for a committed one. */
  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(key);
  }

  /**
   * Turns active snapshot `key` into committed snapshot `name`.
   *
   * @throws NotFound for an unknown key; FailedPrecondition when it is not
   *   active; AlreadyExists when `name` is taken.
   */
  commit(name: string, key: string, options: PrepareOptions = {}): Promise<void> {
    return this.locked(async () => {
      const rec = this.get(key);
      if (rec.kind !== 'active') throw failedPrecondition(`Snapshot ${key} is not active, so it cannot be committed.`);
      if (this.meta.snapshots[name]) throw alreadyExists(`Snapshot ${name} already exists.`);
      const usage = await diskUsage(join(this.dir(rec.id), 'fs'));
      await rm(join(this.dir(rec.id), 'work'), { recursive: true, force: true });
      const committed: SnapshotRecord = {
        ...rec,
        kind: 'committed',
        created: new Date().toISOString(),
        labels: { ...rec.labels, ...options.labels },
        usage,
      };
      delete this.meta.snapshots[key];
      this.meta.snapshots[name] = committed;
      await this.save();
    });
  }

  /**
   * Removes a snapshot and its files.
   *
   * @throws NotFound for an unknown key; FailedPrecondition when other snapshots build on it.
   */
  remove(key: string): Promise<void> {
    return this.locked(async () => {
      const rec = this.get(key);
      const child = Object.entries(this.meta.snapshots).find(([, s]) => s.parent === key);
      if (child) throw failedPrecondition(`Snapshot ${key} has a child snapshot (${child[0]}); remove that first.`);
      delete this.meta.snapshots[key];
      await this.save();
      await rm(this.dir(rec.id), { recursive: true, force: true });
    });
  }

  /** @throws NotFound for an unknown key. */
  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(key, this.get(key));
  }

  /** Disk usage of the snapshot's own layer. @throws NotFound for an unknown key. */
  async usage(key: string): Promise<SnapshotUsage> {
    const rec = this.get(key);
    if (rec.usage) return rec.usage;
    return diskUsage(join(this.dir(rec.id), 'fs'));
  }

  async walk(): Promise<SnapshotInfo[]> {
    return Object.entries(this.meta.snapshots)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, r]) => toInfo(k, r));
  }
}

function toInfo(name: string, rec: SnapshotRecord): SnapshotInfo {
  const info: SnapshotInfo = { name, kind: rec.kind, created: rec.created, labels: { ...rec.labels } };
  if (rec.parent !== undefined) info.parent = rec.parent;
  return info;
}

async function diskUsage(dir: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  async function walk(path: string): Promise<void> {
    const st = await lstat(path);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      inodes++;
      if (!st.isDirectory()) size += st.size;
    }
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  }
  await walk(dir);
  return { size, inodes };
}
