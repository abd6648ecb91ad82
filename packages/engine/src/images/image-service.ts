import { createHash, randomBytes } from 'node:crypto';
import { open as openFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  conflict,
  dataLoss,
  familiarName,
  familiarReference,
  formatReference,
  invalidArgument,
  isAlreadyExists,
  isImageIdPrefix,
  nopLogger,
  notFound,
  parseReference,
  referenceName,
  type Logger,
} from '@shoal/api';
import { applyLayer } from '../archive/apply-layer.js';
import { diffDirectory, tarChanges, tarDirectory, type Change } from '../archive/changes.js';
import { decompress, detectCompression, type ByteSource } from '../archive/decompress.js';
import { ContentStore, type BlobInfo } from '../content/content-store.js';
import { sha256 } from '../content/digest.js';
import { chainIds } from '../snapshots/chain-id.js';
import { mountAt, unmount, type Mount } from '../snapshots/mount.js';
import { OverlaySnapshotter } from '../snapshots/overlay-snapshotter.js';
import { applyConfigChanges } from './config-changes.js';
import { loadImages, saveImages, type LoadResult } from './docker-archive.js';
import { filterBool, globMatch, groupFilters, type FilterArg } from './filters.js';
import { ImageStore, type ImageRecord, type LayerRecord } from './image-store.js';
import {
  MEDIA_TYPE,
  type ContainerConfig,
  type Descriptor,
  type HistoryItem,
  type ImageConfig,
  type Manifest,
} from './oci-types.js';

/** Emits an image event with docker's action names (tag, untag, delete, import, load, save). */
export type ImageEventSink = (type: 'image', action: string, id: string, attributes: Record<string, string>) => void;

export interface ImageServiceOptions {
  /** `<data-root>/image`. */
  root: string;
  logger?: Logger;
  /** The ID of a container using the image, if any; such images are not removed without force. */
  isImageInUse: (imageId: string) => string | undefined;
  events?: ImageEventSink;
  /**
   * The engine's shared snapshotter (containers' writable layers live there
   * too); when absent the service keeps its own under `<root>/snapshots`.
   * A shared one must be initialised by its owner.
   */
  snapshotter?: OverlaySnapshotter;
}

/** What the container side needs to create a container from an image. */
export interface ResolvedImage {
  id: string;
  /** The runtime part of the image config: Env, Cmd, Entrypoint, WorkingDir, User, StopSignal... */
  config: ContainerConfig;
  /** The whole OCI image config. */
  imageConfig: ImageConfig;
  /** The committed snapshot of the top layer: the parent of a container's snapshot. */
  chainId: string;
  /** Familiar form: `busybox:latest`. */
  repoTags: string[];
}

export interface ImageSummary {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Unix seconds. */
  created: number;
  size: number;
  labels: Record<string, string>;
  containers: number;
}

export interface ListImagesOptions {
  all?: boolean;
  filters?: FilterArg[];
}

export interface ImportOptions {
  ref?: string;
  changes?: string[];
  message?: string;
  /** Where the tar came from, for the history comment ("Imported from -"). */
  source?: string;
}

export interface RemoveImageOptions {
  force?: boolean;
  noPrune?: boolean;
}

export interface RemoveImageResult {
  untagged: string[];
  deleted: string[];
}

export interface PruneImagesOptions {
  all?: boolean;
  filters?: FilterArg[];
}

export interface PruneImagesResult {
  deleted: string[];
  untagged: string[];
  spaceReclaimed: number;
}

export interface GcResult {
  blobs: string[];
  snapshots: string[];
  bytesReclaimed: number;
}

export interface ImagesDiskUsage {
  type: 'Images';
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

export interface HistoryEntry {
  id: string;
  created: number;
  createdBy: string;
  size: number;
  comment: string;
  tags: string[];
}

export interface CommitOptions {
  /** The container's active snapshot. */
  snapshotKey: string;
  baseImageId: string;
  /** The container's effective config; replaces the base image's runtime config. */
  config?: ContainerConfig;
  changes?: string[];
  message?: string;
  author?: string;
  ref?: string;
  containerId?: string;
  /** The history line, as docker writes the container's command. */
  createdBy?: string;
}

export interface ProgressLine {
  id: string;
  status: string;
  current?: number;
  total?: number;
}

export type ProgressSink = (p: ProgressLine) => void;

/** A layer to store: a blob (maybe already present) and, if known, its diff ID. */
export interface NewLayer {
  open: () => Promise<ByteSource> | ByteSource;
  digest?: string;
  size?: number;
  expectedDiffId?: string;
}

export interface CreateImageInput {
  /** The exact config bytes (their digest is the image ID). */
  configBytes: Buffer;
  layers: NewLayer[];
  parent?: string;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
}

const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
const dateSeconds = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) || 0 : 0);

/**
 * The local image store: blobs in a content store, layers unpacked into
 * overlay snapshots keyed by chain ID, image records and tags apart from both.
 * Metadata changes and garbage collection run one at a time.
 */
export class ImageService {
  readonly root: string;
  readonly content: ContentStore;
  readonly snapshotter: OverlaySnapshotter;
  private readonly store: ImageStore;
  private readonly logger: Logger;
  private readonly isImageInUse: (imageId: string) => string | undefined;
  private readonly events: ImageEventSink;
  private readonly configs = new Map<string, ImageConfig>();
  /** Blobs and snapshots an operation in flight will reference: gc keeps them. */
  private readonly leases = new Map<string, number>();
  private lock: Promise<unknown> = Promise.resolve();
  private readonly ownSnapshotter: boolean;
  /**
   * Blob writes in flight: their digest is unknown until they finish, so no
   * lease can cover them; gc leaves unreferenced blobs alone meanwhile.
   */
  private ingesting = 0;

  constructor(options: ImageServiceOptions) {
    this.root = options.root;
    this.content = new ContentStore(join(options.root, 'content'));
    this.ownSnapshotter = options.snapshotter === undefined;
    this.snapshotter = options.snapshotter ?? new OverlaySnapshotter(join(options.root, 'snapshots'));
    this.store = new ImageStore(options.root);
    this.logger = options.logger ?? nopLogger;
    this.isImageInUse = options.isImageInUse;
    this.events = options.events ?? (() => undefined);
  }

  /** Opens the stores and removes half-unpacked layers and temp files a crash left behind. */
  async init(): Promise<void> {
    await this.content.init();
    if (this.ownSnapshotter) await this.snapshotter.init();
    await this.store.init();
    await rm(this.tmpRoot, { recursive: true, force: true });
    await mkdir(this.tmpRoot, { recursive: true });
    for (const s of await this.snapshotter.walk()) {
      if (s.name.startsWith('extract-')) await this.snapshotter.remove(s.name).catch(() => undefined);
    }
  }

  /** Scratch space on the same file system as the stores. */
  get tmpRoot(): string {
    return join(this.root, 'tmp');
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Runs a blob write that gc must not race, and leases its digest (via `hold`) before gc may run again. */
  private async ingest(put: () => Promise<BlobInfo>, hold: (digest: string) => void): Promise<BlobInfo> {
    this.ingesting++;
    try {
      const blob = await put();
      hold(blob.digest);
      return blob;
    } finally {
      this.ingesting--;
    }
  }

  private lease(keys: string[]): () => void {
    for (const k of keys) this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) {
        const n = (this.leases.get(k) ?? 1) - 1;
        if (n <= 0) this.leases.delete(k);
        else this.leases.set(k, n);
      }
    };
  }

  // ---------------------------------------------------------------- lookup

  /** The parsed config of a stored image. @throws NotFound when its config blob is gone. */
  async config(id: string): Promise<ImageConfig> {
    const cached = this.configs.get(id);
    if (cached) return cached;
    const cfg = JSON.parse((await this.content.read(id)).toString('utf8')) as ImageConfig;
    this.configs.set(id, cfg);
    return cfg;
  }

  private lookup(refOrId: string): { rec: ImageRecord; ref?: string } {
    let parseError: unknown;
    if (!refOrId.startsWith('sha256:')) {
      try {
        const ref = parseReference(refOrId);
        if (ref.digest !== undefined) {
          const name = referenceName(ref);
          const rec = this.store.all().find((r) => r.repoDigests.includes(`${name}@${ref.digest}`));
          if (rec) return { rec };
        } else {
          const full = formatReference(ref);
          const id = this.store.tagTarget(full);
          const rec = id === undefined ? undefined : this.store.get(id);
          if (rec) return { rec, ref: full };
        }
      } catch (err) {
        parseError = err;
      }
    }
    if (isImageIdPrefix(refOrId)) {
      const hex = refOrId.replace(/^sha256:/, '');
      const matches = this.store.all().filter((r) => r.id.slice('sha256:'.length).startsWith(hex));
      if (matches.length === 1) return { rec: matches[0] as ImageRecord };
      if (matches.length > 1) {
        throw invalidArgument(`Image ID prefix ${refOrId} matches ${matches.length} images; give more characters.`);
      }
    }
    if (parseError) throw parseError as Error;
    throw notFound(`No such image: ${familiarReference(refOrId)}`);
  }

  /**
   * Finds an image by reference, digest reference, or (abbreviated) ID.
   *
   * @throws NotFound ("No such image: busybox:latest"); InvalidArgument for a
   *   malformed reference or an ambiguous ID prefix.
   */
  async resolve(refOrId: string): Promise<ResolvedImage> {
    const { rec } = this.lookup(refOrId);
    return this.resolved(rec);
  }

  private async resolved(rec: ImageRecord): Promise<ResolvedImage> {
    const imageConfig = await this.config(rec.id);
    return {
      id: rec.id,
      config: imageConfig.config ?? {},
      imageConfig,
      chainId: chainIds(rec.layers.map((l) => l.diffId)).at(-1) ?? '',
      repoTags: this.store.tagsOf(rec.id).map(familiarReference),
    };
  }

  /** The ID of the image `refOrId` names, or undefined (for filters such as `ancestor=`). */
  resolveId(refOrId: string): string | undefined {
    try {
      return this.lookup(refOrId).rec.id;
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------- creation

  /**
   * Stores the layers (unpacking each into its snapshot unless that chain is
   * already there), the config and a manifest, and records the image.
   *
   * @throws DataLoss when a layer does not match its expected digest or diff
   *   ID; InvalidArgument for a bad config or a malicious layer.
   */
  async createImage(input: CreateImageInput): Promise<ImageRecord> {
    const { signal, onProgress } = input;
    let config: ImageConfig;
    try {
      config = JSON.parse(input.configBytes.toString('utf8')) as ImageConfig;
    } catch (err) {
      throw invalidArgument('The image config is not valid JSON.', { cause: err });
    }
    const diffIds = config.rootfs?.diff_ids;
    if (input.layers.length === 0) throw invalidArgument('An image needs at least one layer.');
    if (!Array.isArray(diffIds) || diffIds.length !== input.layers.length) {
      throw invalidArgument(
        `The image config lists ${Array.isArray(diffIds) ? diffIds.length : 0} layers but ${input.layers.length} were given.`,
      );
    }
    const id = sha256(input.configBytes);
    const existing = this.store.get(id);
    if (existing) return existing;

    const held: string[] = [id];
    const release = this.lease(held);
    const leaseMore = (k: string): void => {
      this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
      held.push(k);
    };
    try {
      const layers: LayerRecord[] = [];
      let parentChain: string | undefined;
      for (const [i, layer] of input.layers.entries()) {
        signal?.throwIfAborted();
        const want = diffIds[i] as string;
        const chain = chainIds([...layers.map((l) => l.diffId), want]).at(-1) as string;
        leaseMore(chain);
        let blob = layer.digest !== undefined && (await this.content.has(layer.digest)) ? await this.content.info(layer.digest) : undefined;
        if (blob) leaseMore(blob.digest);
        else {
          const { digest, size } = layer;
          blob = await this.ingest(async () => this.content.put(await layer.open(), { digest, size }, signal), leaseMore);
        }
        onProgress?.({ id: shortId(want), status: 'Loading layer', current: 0, total: blob.size });
        const unpacked = await this.unpack(blob.digest, parentChain, chain, want, signal);
        if (unpacked.diffId !== want) {
          throw dataLoss(
            `Layer ${i + 1} has diff ID ${unpacked.diffId}, but the image config says ${want}; the image was not stored.`,
          );
        }
        onProgress?.({ id: shortId(want), status: 'Loading layer', current: blob.size, total: blob.size });
        layers.push({
          digest: blob.digest,
          size: blob.size,
          mediaType: await this.layerMediaType(blob.digest),
          diffId: want,
          uncompressedSize: unpacked.size,
        });
        parentChain = chain;
      }
      await this.ingest(() => this.content.putBytes(input.configBytes, { digest: id }), () => undefined);
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: id, size: input.configBytes.length },
        layers: layers.map((l): Descriptor => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      };
      const manifestBlob = await this.ingest(() => this.content.putBytes(Buffer.from(JSON.stringify(manifest))), leaseMore);
      return await this.locked(async () => {
        const again = this.store.get(id);
        if (again) return again;
        const rec: ImageRecord = {
          id,
          manifest: manifestBlob.digest,
          layers,
          repoDigests: [],
          added: new Date().toISOString(),
        };
        if (input.parent !== undefined) rec.parent = input.parent;
        await this.store.put(rec);
        return rec;
      });
    } finally {
      release();
    }
  }

  /** Unpacks a stored layer blob into snapshot `chain` (unless present); returns its diff ID and size. */
  private async unpack(
    digest: string,
    parent: string | undefined,
    chain: string,
    expectedDiffId: string,
    signal?: AbortSignal,
  ): Promise<{ diffId: string; size: number }> {
    const present = await this.snapshotter.stat(chain).catch(() => undefined);
    if (present?.kind === 'committed') {
      // Only hash: the snapshot is there already.
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of decompress(await this.content.readStream(digest, signal))) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
      return { diffId: `sha256:${hash.digest('hex')}`, size };
    }
    const key = `extract-${randomBytes(8).toString('hex')}`;
    await this.snapshotter.prepare(key, parent);
    try {
      const res = await applyLayer(await this.content.readStream(digest, signal), this.snapshotter.upperDir(key), {
        signal,
        logger: this.logger,
      });
      if (res.diffId !== expectedDiffId) {
        // Never commit under a chain ID the content does not match; the caller reports it.
        await this.snapshotter.remove(key);
        return res;
      }
      try {
        await this.snapshotter.commit(chain, key);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await this.snapshotter.remove(key);
      }
      return res;
    } catch (err) {
      await this.snapshotter.remove(key).catch(() => undefined);
      throw err;
    }
  }

  private async layerMediaType(digest: string): Promise<string> {
    const fh = await openFile(this.content.path(digest), 'r');
    try {
      const head = Buffer.alloc(6);
      await fh.read(head, 0, 6, 0);
      const kind = detectCompression(head);
      return kind === 'gzip' ? MEDIA_TYPE.ociLayerGzip : kind === 'zstd' ? MEDIA_TYPE.ociLayerZstd : MEDIA_TYPE.ociLayer;
    } finally {
      await fh.close();
    }
  }

  /**
   * `docker import`: a root filesystem tar (plain, gzip or zstd) becomes a
   * one-layer image, tagged `ref` if given.
   *
   * @throws InvalidArgument for a bad reference, change or tarball; the signal's reason on abort.
   */
  async import(src: ByteSource, options: ImportOptions = {}, signal?: AbortSignal): Promise<string> {
    const target = options.ref ? this.tagReference(options.ref) : undefined;
    const containerConfig = applyConfigChanges({}, options.changes ?? []);
    let release = (): void => undefined;
    const blob = await this.ingest(
      () => this.content.put(src, {}, signal),
      (d) => (release = this.lease([d])),
    );
    try {
      const diffId = await this.diffIdOf(blob.digest, signal);
      const created = new Date().toISOString();
      const comment = options.message || `Imported from ${options.source ?? '-'}`;
      const config: ImageConfig = {
        architecture: 'amd64',
        config: containerConfig,
        created,
        history: [{ created, comment }],
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [diffId] },
        comment,
      };
      const rec = await this.createImage({
        configBytes: Buffer.from(JSON.stringify(config)),
        layers: [{ open: () => [], digest: blob.digest, size: blob.size }],
        signal,
      });
      this.events('image', 'import', rec.id, {});
      if (target) await this.locked(() => this.setTag(target, rec.id));
      return rec.id;
    } finally {
      release();
    }
  }

  private async diffIdOf(digest: string, signal?: AbortSignal): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of decompress(await this.content.readStream(digest, signal))) hash.update(chunk);
    return `sha256:${hash.digest('hex')}`;
  }

  // ------------------------------------------------------------------ tags

  /** Normalizes a reference to tag with. @throws InvalidArgument for digests or bad references. */
  private tagReference(ref: string): string {
    const parsed = parseReference(ref);
    if (parsed.digest !== undefined) {
      throw invalidArgument(`refusing to create a tag with a digest reference: ${ref}`);
    }
    return formatReference(parsed);
  }

  private async setTag(ref: string, id: string): Promise<void> {
    const prev = this.store.tagTarget(ref);
    if (prev === id) return;
    await this.store.setTag(ref, id);
    const rec = this.store.get(id);
    if (rec) await this.store.put({ ...rec, lastTagTime: new Date().toISOString() });
    if (prev !== undefined) this.events('image', 'untag', prev, { name: familiarReference(ref) });
    this.events('image', 'tag', id, { name: familiarReference(ref) });
  }

  /**
   * `docker tag SOURCE TARGET`.
   *
   * @throws NotFound for an unknown source; InvalidArgument for a bad or digest target.
   */
  async tag(source: string, target: string): Promise<void> {
    const full = this.tagReference(target);
    await this.locked(async () => {
      const { rec } = this.lookup(source);
      await this.setTag(full, rec.id);
    });
  }

  // ----------------------------------------------------------- inspection

  private async imageSize(rec: ImageRecord): Promise<number> {
    let size = 0;
    for (const chain of chainIds(rec.layers.map((l) => l.diffId))) {
      size += (await this.snapshotter.usage(chain).catch(() => ({ size: 0 }))).size;
    }
    return size;
  }

  private hasChildren(id: string): boolean {
    return this.store.all().some((r) => r.parent === id);
  }

  /**
   * `docker images`: tagged images (and untagged leaves), or every image with `all`.
   *
   * @throws InvalidArgument for an unknown filter or a bad filter value.
   */
  async list(options: ListImagesOptions = {}): Promise<ImageSummary[]> {
    const filters = groupFilters(options.filters ?? [], ['dangling', 'reference', 'label', 'before', 'since']);
    const dangling = filters.get('dangling')?.map((v) => filterBool('dangling', v));
    const created = async (ref: string): Promise<number> => {
      const { rec } = this.lookup(ref);
      return dateSeconds((await this.config(rec.id)).created);
    };
    const before = filters.has('before') ? Math.min(...(await Promise.all((filters.get('before') ?? []).map(created)))) : undefined;
    const since = filters.has('since') ? Math.max(...(await Promise.all((filters.get('since') ?? []).map(created)))) : undefined;
    const out: ImageSummary[] = [];
    for (const rec of this.store.all()) {
      const tags = this.store.tagsOf(rec.id);
      if (!options.all && tags.length === 0 && this.hasChildren(rec.id)) continue;
      if (dangling !== undefined && dangling.some((d) => d !== (tags.length === 0))) continue;
      const cfg = await this.config(rec.id);
      const createdAt = dateSeconds(cfg.created);
      const labels = cfg.config?.Labels ?? {};
      if (before !== undefined && !(createdAt < before)) continue;
      if (since !== undefined && !(createdAt > since)) continue;
      const labelFilters = filters.get('label') ?? [];
      if (!labelFilters.every((f) => matchLabel(labels, f))) continue;
      const refFilters = filters.get('reference');
      if (refFilters && !refFilters.some((p) => tags.some((t) => matchReference(p, t)))) continue;
      out.push({
        id: rec.id,
        repoTags: tags.map(familiarReference),
        repoDigests: rec.repoDigests.map(familiarReference),
        created: createdAt,
        size: await this.imageSize(rec),
        labels,
        containers: this.isImageInUse(rec.id) === undefined ? 0 : 1,
      });
    }
    return out.sort((a, b) => b.created - a.created || (a.id < b.id ? -1 : 1));
  }

  /**
   * `docker image inspect`: a docker-shaped object.
   *
   * @throws NotFound ("No such image: x"); InvalidArgument for a bad reference.
   */
  async inspect(refOrId: string): Promise<Record<string, unknown>> {
    const { rec } = this.lookup(refOrId);
    const cfg = await this.config(rec.id);
    const c = cfg.config ?? {};
    const size = await this.imageSize(rec);
    const lowers = chainIds(rec.layers.map((l) => l.diffId));
    return {
      Id: rec.id,
      RepoTags: this.store.tagsOf(rec.id).map(familiarReference),
      RepoDigests: rec.repoDigests.map(familiarReference),
      Parent: rec.parent ?? '',
      Comment: cfg.comment ?? cfg.history?.at(-1)?.comment ?? '',
      Created: cfg.created ?? '',
      Container: cfg.container ?? '',
      DockerVersion: cfg.docker_version ?? '',
      Author: cfg.author ?? '',
      Config: {
        Hostname: '',
        Domainname: '',
        User: c.User ?? '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        ExposedPorts: c.ExposedPorts,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Env: c.Env ?? null,
        Cmd: c.Cmd ?? null,
        Image: '',
        Volumes: c.Volumes ?? null,
        WorkingDir: c.WorkingDir ?? '',
        Entrypoint: c.Entrypoint ?? null,
        OnBuild: c.OnBuild ?? null,
        Labels: c.Labels ?? null,
        StopSignal: c.StopSignal,
        Healthcheck: c.Healthcheck,
        Shell: c.Shell,
      },
      Architecture: cfg.architecture,
      Variant: cfg.variant,
      Os: cfg.os,
      Size: size,
      VirtualSize: size,
      GraphDriver: {
        Name: 'overlay2',
        Data: {
          LowerDir: lowers
            .slice(0, -1)
            .reverse()
            .map((k) => this.snapshotDir(k))
            .join(':'),
          UpperDir: lowers.length > 0 ? this.snapshotDir(lowers.at(-1) as string) : '',
        },
      },
      RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
      Metadata: { LastTagTime: rec.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  }

  private snapshotDir(key: string): string {
    try {
      return this.snapshotter.upperDir(key);
    } catch {
      return '';
    }
  }

  /**
   * `docker history`: newest first; only the top entry carries the image ID.
   *
   * @throws NotFound ("No such image: x").
   */
  async history(refOrId: string): Promise<HistoryEntry[]> {
    const { rec } = this.lookup(refOrId);
    const cfg = await this.config(rec.id);
    const chains = chainIds(rec.layers.map((l) => l.diffId));
    const items: HistoryItem[] = cfg.history?.length ? cfg.history : chains.map(() => ({}));
    let layer = 0;
    const out: HistoryEntry[] = [];
    for (const h of items) {
      let size = 0;
      if (!h.empty_layer && layer < chains.length) {
        size = (await this.snapshotter.usage(chains[layer] as string).catch(() => ({ size: 0 }))).size;
        layer++;
      }
      out.push({ id: '<missing>', created: dateSeconds(h.created), createdBy: h.created_by ?? '', size, comment: h.comment ?? '', tags: [] });
    }
    out.reverse();
    const top = out[0];
    if (top) {
      top.id = rec.id;
      top.tags = this.store.tagsOf(rec.id).map(familiarReference);
    }
    return out;
  }

  // -------------------------------------------------------------- removal

  /**
   * `docker rmi`: untags `ref`, and deletes the image when no tag is left.
   *
   * @throws NotFound ("No such image: x"); Conflict when a container uses the
   *   image, or an ID names an image with several tags, unless `force`.
   */
  async remove(refOrId: string, options: RemoveImageOptions = {}): Promise<RemoveImageResult> {
    const result = await this.locked(async () => {
      const { rec, ref } = this.lookup(refOrId);
      const tags = this.store.tagsOf(rec.id);
      const untagged: string[] = [];
      const deleted: string[] = [];
      const user = this.isImageInUse(rec.id);
      if (ref !== undefined && tags.length > 1) {
        await this.untag(ref, rec.id, untagged);
        return { untagged, deleted, gc: false };
      }
      if (user !== undefined && !options.force) {
        throw conflict(
          `conflict: unable to remove repository reference "${refOrId}" (must force) - container ${shortId(user)} is using its referenced image ${shortId(rec.id)}`,
        );
      }
      if (ref === undefined && tags.length > 1 && !options.force) {
        throw conflict(
          `conflict: unable to delete ${shortId(rec.id)} (must be forced) - image is referenced in multiple repositories`,
        );
      }
      if (ref !== undefined && this.hasChildren(rec.id)) {
        // docker keeps a parent image and only drops the name it was given.
        await this.untag(ref, rec.id, untagged);
        return { untagged, deleted, gc: false };
      }
      if (this.hasChildren(rec.id) && !options.force) {
        throw conflict(`conflict: unable to delete ${shortId(rec.id)} (cannot be forced) - image has dependent child images`);
      }
      for (const t of tags) await this.untag(t, rec.id, untagged);
      if (user !== undefined || this.hasChildren(rec.id)) return { untagged, deleted, gc: false };
      await this.deleteRecord(rec, deleted);
      if (!options.noPrune) {
        // Untagged parents left without children go too, as docker does.
        for (let p = rec.parent; p !== undefined; ) {
          const parent = this.store.get(p);
          if (!parent || this.store.tagsOf(p).length > 0 || this.hasChildren(p) || this.isImageInUse(p)) break;
          await this.deleteRecord(parent, deleted);
          p = parent.parent;
        }
      }
      return { untagged, deleted, gc: true };
    });
    if (result.gc) {
      const gc = await this.gc();
      result.deleted.push(...gc.snapshots);
    }
    return { untagged: result.untagged, deleted: result.deleted };
  }

  private async untag(ref: string, id: string, untagged: string[]): Promise<void> {
    await this.store.deleteTag(ref);
    untagged.push(familiarReference(ref));
    this.events('image', 'untag', id, { name: familiarReference(ref) });
  }

  private async deleteRecord(rec: ImageRecord, deleted: string[]): Promise<void> {
    await this.store.delete(rec.id);
    this.configs.delete(rec.id);
    deleted.push(rec.id);
    this.events('image', 'delete', rec.id, {});
  }

  /**
   * `docker image prune`: deletes dangling images (every unused image with
   * `all`), skipping those containers use.
   *
   * @throws InvalidArgument for an unknown filter.
   */
  async prune(options: PruneImagesOptions = {}): Promise<PruneImagesResult> {
    const filters = groupFilters(options.filters ?? [], ['label', 'until', 'dangling']);
    const untilValues = filters.get('until') ?? [];
    const until = untilValues.length > 0 ? Math.min(...untilValues.map(parseUntil)) : undefined;
    const all = options.all || (filters.get('dangling') ?? []).some((v) => !filterBool('dangling', v));
    const before = await this.usageTotal();
    const result = await this.locked(async () => {
      const deleted: string[] = [];
      const untagged: string[] = [];
      // Repeat: deleting a child can make its parent prunable.
      for (let progress = true; progress; ) {
        progress = false;
        for (const rec of this.store.all()) {
          const tags = this.store.tagsOf(rec.id);
          if (!all && tags.length > 0) continue;
          if (this.isImageInUse(rec.id) !== undefined || this.hasChildren(rec.id)) continue;
          const cfg = await this.config(rec.id);
          if (!(filters.get('label') ?? []).every((f) => matchLabel(cfg.config?.Labels ?? {}, f))) continue;
          if (until !== undefined && !(dateSeconds(cfg.created) < until)) continue;
          for (const t of tags) await this.untag(t, rec.id, untagged);
          await this.deleteRecord(rec, deleted);
          progress = true;
        }
      }
      return { deleted, untagged };
    });
    const gc = await this.gc();
    const after = await this.usageTotal();
    return {
      deleted: [...result.deleted, ...gc.snapshots],
      untagged: result.untagged,
      spaceReclaimed: Math.max(0, before - after),
    };
  }

  private async usageTotal(): Promise<number> {
    let total = 0;
    for (const s of await this.snapshotter.walk()) {
      if (s.kind === 'committed') total += (await this.snapshotter.usage(s.name)).size;
    }
    for (const b of await this.content.list()) total += b.size;
    return total;
  }

  /**
   * Removes blobs and committed snapshots that no image (nor an active
   * snapshot's ancestry, nor an operation in flight) reaches.
   */
  async gc(): Promise<GcResult> {
    return this.locked(async () => {
      const keep = new Set<string>(this.leases.keys());
      for (const rec of this.store.all()) {
        keep.add(rec.id);
        keep.add(rec.manifest);
        for (const l of rec.layers) keep.add(l.digest);
        for (const c of chainIds(rec.layers.map((l) => l.diffId))) keep.add(c);
      }
      const snaps = await this.snapshotter.walk();
      const byName = new Map(snaps.map((s) => [s.name, s]));
      for (const s of snaps) {
        if (s.kind === 'committed' && !keep.has(s.name)) continue;
        for (let p = s.parent; p !== undefined; p = byName.get(p)?.parent) keep.add(p);
      }
      const result: GcResult = { blobs: [], snapshots: [], bytesReclaimed: 0 };
      for (const blob of this.ingesting > 0 ? [] : await this.content.list()) {
        if (keep.has(blob.digest)) continue;
        await this.content.delete(blob.digest);
        result.blobs.push(blob.digest);
        result.bytesReclaimed += blob.size;
      }
      // Leaves first: a snapshot with children cannot go.
      for (let progress = true; progress; ) {
        progress = false;
        const current = await this.snapshotter.walk();
        const parents = new Set(current.map((s) => s.parent).filter((p) => p !== undefined));
        for (const s of current) {
          if (s.kind !== 'committed' || keep.has(s.name) || parents.has(s.name)) continue;
          result.bytesReclaimed += (await this.snapshotter.usage(s.name)).size;
          await this.snapshotter.remove(s.name);
          result.snapshots.push(s.name);
          progress = true;
        }
      }
      if (result.blobs.length > 0 || result.snapshots.length > 0) {
        this.logger.info('image garbage collected', {
          'gc.blobs': result.blobs.length,
          'gc.snapshots': result.snapshots.length,
          'gc.bytes': result.bytesReclaimed,
        });
      }
      return result;
    });
  }

  /** The Images line of `docker system df`. */
  async diskUsage(): Promise<ImagesDiskUsage> {
    const recs = this.store.all();
    const shared = new Map<string, number>();
    for (const s of await this.snapshotter.walk()) {
      if (s.kind === 'committed') shared.set(s.name, (await this.snapshotter.usage(s.name)).size);
    }
    const activeChains = new Set<string>();
    let active = 0;
    for (const rec of recs) {
      if (this.isImageInUse(rec.id) === undefined) continue;
      active++;
      for (const c of chainIds(rec.layers.map((l) => l.diffId))) activeChains.add(c);
    }
    let size = 0;
    let reclaimable = 0;
    for (const [name, bytes] of shared) {
      size += bytes;
      if (!activeChains.has(name)) reclaimable += bytes;
    }
    return { type: 'Images', total: recs.length, active, size, reclaimable };
  }

  // ------------------------------------------------ containers' file systems

  /**
   * `docker commit`: the container's changes become a new layer on top of its image.
   *
   * @throws NotFound for an unknown snapshot or base image; InvalidArgument for a bad reference or change.
   */
  async commit(options: CommitOptions, signal?: AbortSignal): Promise<string> {
    const target = options.ref ? this.tagReference(options.ref) : undefined;
    const base = this.lookup(options.baseImageId).rec;
    const baseConfig = await this.config(base.id);
    const containerConfig = applyConfigChanges(options.config ?? baseConfig.config ?? {}, options.changes ?? []);
    const key = options.snapshotKey;
    const layerTar = tarChanges(this.snapshotter.lowerDirs(key), this.snapshotter.upperDir(key), signal);
    let release = (): void => undefined;
    const blob = await this.ingest(
      () => this.content.put(layerTar, {}, signal),
      (d) => (release = this.lease([d])),
    );
    try {
      const created = new Date().toISOString();
      const history = [...(baseConfig.history ?? [])];
      const item: Record<string, string> = { created, created_by: options.createdBy ?? '' };
      if (options.author) item.author = options.author;
      if (options.message) item.comment = options.message;
      history.push(item);
      const config: ImageConfig = {
        architecture: baseConfig.architecture,
        config: containerConfig,
        created,
        history,
        os: baseConfig.os,
        rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, blob.digest] },
      };
      if (options.author) config.author = options.author;
      if (options.message) config.comment = options.message;
      if (options.containerId) config.container = options.containerId;
      const layers: NewLayer[] = base.layers.map((l) => ({ open: () => [], digest: l.digest, size: l.size }));
      layers.push({ open: () => [], digest: blob.digest, size: blob.size });
      const rec = await this.createImage({
        configBytes: Buffer.from(JSON.stringify(config)),
        layers,
        parent: base.id,
        signal,
      });
      if (target) await this.locked(() => this.setTag(target, rec.id));
      return rec.id;
    } finally {
      release();
    }
  }

  /**
   * `docker diff`: what a container changed in its image's file system.
   *
   * @throws NotFound for an unknown snapshot.
   */
  async containerChanges(snapshotKey: string): Promise<Change[]> {
    return diffDirectory(this.snapshotter.lowerDirs(snapshotKey), this.snapshotter.upperDir(snapshotKey));
  }

  /** Same as `containerChanges`. @throws NotFound for an unknown snapshot. */
  changes(snapshotKey: string): Promise<Change[]> {
    return this.containerChanges(snapshotKey);
  }

  /**
   * `docker export`: a flat tar of the container's file system, read from a
   * private read-only mount of its layers (safe while the container runs).
   *
   * @throws NotFound for an unknown snapshot; Internal when the mount fails.
   */
  async exportContainer(snapshotKey: string, signal?: AbortSignal): Promise<Readable> {
    const layers = [this.snapshotter.upperDir(snapshotKey), ...this.snapshotter.lowerDirs(snapshotKey)];
    const mounts: Mount[] =
      layers.length === 1
        ? [{ type: 'bind', source: layers[0] as string, options: ['rbind', 'ro'] }]
        : [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${layers.join(':')}`] }];
    const dir = await mkdtemp(join(this.tmpRoot, 'export-'));
    await mountAt(mounts, dir, signal);
    const out = new PassThrough();
    pipeline(tarDirectory(dir, signal), out)
      .catch((err: unknown) => {
        this.logger.warn('container export stopped', { 'snapshot.key': snapshotKey, error: String(err) });
      })
      .finally(async () => {
        await unmount(dir).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      });
    return out;
  }

  // ----------------------------------------------------------- save / load

  /**
   * `docker save`: a docker archive of the named images.
   *
   * @throws NotFound / InvalidArgument for a bad reference, before any byte is sent.
   */
  save(refs: string[], signal?: AbortSignal): Promise<Readable> {
    return saveImages(this, refs, signal);
  }

  /**
   * `docker load`: a docker archive or an OCI image layout tar.
   *
   * @throws InvalidArgument for an unknown or malicious archive; DataLoss for layers that do not match their config.
   */
  load(src: ByteSource, onProgress: ProgressSink = () => undefined, signal?: AbortSignal): Promise<LoadResult> {
    return loadImages(this, src, onProgress, signal);
  }

  /** @internal */
  record(id: string): ImageRecord | undefined {
    return this.store.get(id);
  }

  /** @internal Resolves for save: the record and the normalized tag it was named by. */
  lookupForSave(refOrId: string): { rec: ImageRecord; ref?: string } {
    return this.lookup(refOrId);
  }

  /** @internal */
  async tagLoaded(ref: string, id: string): Promise<void> {
    await this.locked(() => this.setTag(ref, id));
  }

  /** @internal */
  emit(action: string, id: string, attributes: Record<string, string> = {}): void {
    this.events('image', action, id, attributes);
  }
}

function matchLabel(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq === -1) return filter in labels;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/** docker's reference filter: the pattern matches `busybox:latest` or `busybox`. */
function matchReference(pattern: string, normalizedTag: string): boolean {
  const fam = familiarReference(normalizedTag);
  const name = familiarName(fam.replace(/:[^:/]*$/, ''));
  return globMatch(pattern, fam) || globMatch(pattern, name) || globMatch(pattern, normalizedTag);
}

function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return Date.now() / 1000 - Number(d[1]) * { s: 1, m: 60, h: 3600 }[d[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`Invalid filter value 'until=${v}': use a timestamp or a duration like 24h.`);
  return t / 1000;
}
