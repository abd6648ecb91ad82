import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

/** One layer of an image: the stored blob and what it unpacks to. */
export interface LayerRecord {
  /** Digest of the blob as stored (compressed or not). */
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
  /** Bytes of the uncompressed tar, for `save`. */
  uncompressedSize: number;
}

/** What the engine keeps about an image besides its blobs. */
export interface ImageRecord {
  /** `sha256:` digest of the config blob. */
  id: string;
  manifest: string;
  layers: LayerRecord[];
  /** `docker.io/library/busybox@sha256:...` */
  repoDigests: string[];
  /** The local image this one was committed from. */
  parent?: string;
  /** When it entered this store (ISO 8601). */
  added: string;
  lastTagTime?: string;
}

/** Image records must survive a crash once acknowledged: the engine's one atomic, fsynced write. */
const writeAtomic = (path: string, data: string): Promise<void> => writeFileAtomic(path, data);

/**
 * Image records (`<root>/images/<hex>.json`) and the tag table
 * (`<root>/repositories.json`), each file replaced atomically. All reads are
 * served from memory; callers serialize writes.
 */
export class ImageStore {
  private readonly dir: string;
  private readonly tagsPath: string;
  private readonly images = new Map<string, ImageRecord>();
  /** Normalized `name:tag` → image ID. */
  private tags = new Map<string, string>();

  constructor(root: string) {
    this.dir = join(root, 'images');
    this.tagsPath = join(root, 'repositories.json');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const rec = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as ImageRecord;
      this.images.set(rec.id, rec);
    }
    try {
      const raw = JSON.parse(await readFile(this.tagsPath, 'utf8')) as Record<string, string>;
      this.tags = new Map(Object.entries(raw).filter(([, id]) => this.images.has(id)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  all(): ImageRecord[] {
    return [...this.images.values()];
  }

  async put(rec: ImageRecord): Promise<void> {
    await writeAtomic(join(this.dir, `${rec.id.slice('sha256:'.length)}.json`), JSON.stringify(rec));
    this.images.set(rec.id, rec);
  }

  async delete(id: string): Promise<void> {
    await rm(join(this.dir, `${id.slice('sha256:'.length)}.json`), { force: true });
    this.images.delete(id);
  }

  tagTarget(ref: string): string | undefined {
    return this.tags.get(ref);
  }

  /** Normalized references that point at `id`, sorted. */
  tagsOf(id: string): string[] {
    return [...this.tags].filter(([, v]) => v === id).map(([k]) => k).sort();
  }

  allTags(): [string, string][] {
    return [...this.tags];
  }

  async setTag(ref: string, id: string): Promise<void> {
    const next = new Map(this.tags).set(ref, id);
    await writeAtomic(this.tagsPath, JSON.stringify(Object.fromEntries(next)));
    this.tags = next;
  }

  async deleteTag(ref: string): Promise<void> {
    const next = new Map(this.tags);
    next.delete(ref);
    await writeAtomic(this.tagsPath, JSON.stringify(Object.fromEntries(next)));
    this.tags = next;
  }
}
