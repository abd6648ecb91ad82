// `docker save` / `docker load` archives, and OCI image layout tars on load.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { familiarName, familiarReference, formatReference, invalidArgument, parseReference, referenceName } from '@shoal/api';
import { decompress, type ByteSource } from '../archive/decompress.js';
import { entryParts } from '../archive/safe-path.js';
import { chainIds } from '../snapshots/chain-id.js';
import type { ImageRecord } from './image-store.js';
import type { ImageService, NewLayer, ProgressSink } from './image-service.js';
import { MEDIA_TYPE, type Descriptor, type ImageConfig, type ImageIndex, type Manifest } from './oci-types.js';

export interface LoadResult {
  /** Familiar references that were tagged: `busybox:latest`. */
  refs: string[];
  ids: string[];
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

const EPOCH = new Date(0);
const hex = (digest: string): string => digest.replace(/^sha256:/, '');

/**
 * A docker archive of the images `refs` name, in the layout docker 20.10
 * writes and loads (`<layer>/layer.tar`, `<config>.json`, `manifest.json`,
 * `repositories`). Byte-for-byte the same for the same images and refs.
 *
 * @throws NotFound / InvalidArgument for a bad reference, before any byte is sent.
 */
export async function saveImages(svc: ImageService, refs: string[], signal?: AbortSignal): Promise<Readable> {
  if (refs.length === 0) throw invalidArgument('Name at least one image to save.');
  const order: ImageRecord[] = [];
  const tagsOf = new Map<string, string[]>();
  for (const r of refs) {
    const { rec, ref } = svc.lookupForSave(r);
    if (!tagsOf.has(rec.id)) {
      order.push(rec);
      tagsOf.set(rec.id, []);
    }
    const tags = tagsOf.get(rec.id) as string[];
    if (ref !== undefined && !tags.includes(familiarReference(ref))) tags.push(familiarReference(ref));
  }
  const configs = new Map<string, Buffer>();
  for (const rec of order) configs.set(rec.id, await svc.content.read(rec.id));

  const pack = tar.pack();
  const add = (header: Partial<tar.Header> & { name: string }, body: string | Buffer = ''): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry({ mtime: EPOCH, uid: 0, gid: 0, mode: 0o644, ...header }, body, (err) => (err ? reject(err) : resolve()));
    });

  const fill = async (): Promise<void> => {
    const written = new Set<string>();
    const manifest: DockerManifestEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const rec of order) {
      const chains = chainIds(rec.layers.map((l) => l.diffId));
      const layerPaths: string[] = [];
      let parentV1: string | undefined;
      for (const [i, layer] of rec.layers.entries()) {
        signal?.throwIfAborted();
        // The chain ID is unique per position in a stack: a stable v1 layer ID.
        const v1 = hex(chains[i] as string);
        layerPaths.push(`${v1}/layer.tar`);
        if (!written.has(v1)) {
          written.add(v1);
          await add({ name: `${v1}/`, type: 'directory', mode: 0o755 });
          await add({ name: `${v1}/VERSION` }, '1.0');
          const v1json: Record<string, unknown> = { id: v1, created: EPOCH.toISOString(), os: 'linux' };
          if (parentV1 !== undefined) v1json.parent = parentV1;
          await add({ name: `${v1}/json` }, JSON.stringify(v1json));
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry(
              { name: `${v1}/layer.tar`, size: layer.uncompressedSize, mtime: EPOCH, mode: 0o644, uid: 0, gid: 0 },
              (err) => (err ? reject(err) : resolve()),
            );
            svc.content
              .readStream(layer.digest, signal)
              .then((s) => pipeline(Readable.from(decompress(s)), sink))
              .catch(reject);
          });
        }
        parentV1 = v1;
      }
      await add({ name: `${hex(rec.id)}.json` }, configs.get(rec.id));
      const tags = tagsOf.get(rec.id) ?? [];
      manifest.push({ Config: `${hex(rec.id)}.json`, RepoTags: tags.length > 0 ? tags : null, Layers: layerPaths });
      for (const t of tags) {
        const p = parseReference(t);
        const name = familiarName(referenceName(p));
        repositories[name] = { ...repositories[name], [p.tag ?? 'latest']: parentV1 ?? '' };
      }
      svc.emit('save', rec.id);
    }
    await add({ name: 'manifest.json' }, JSON.stringify(manifest));
    if (Object.keys(repositories).length > 0) await add({ name: 'repositories' }, JSON.stringify(repositories));
  };
  fill().then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return Readable.from(pack);
}

/** The files of an unpacked archive, with its symlinks resolved lexically inside it. */
class Spool {
  readonly links = new Map<string, string>();
  constructor(readonly dir: string) {}

  resolve(name: string): string {
    let rel = entryParts(name).join('/');
    for (let hops = 0; hops < 16; hops++) {
      const target = this.links.get(rel);
      if (target === undefined) return join(this.dir, rel);
      rel = target;
    }
    throw invalidArgument(`The archive's "${name}" goes through too many links.`);
  }

  async has(name: string): Promise<boolean> {
    return stat(this.resolve(name)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async json<T>(name: string): Promise<T> {
    try {
      return JSON.parse(await readFile(this.resolve(name), 'utf8')) as T;
    } catch (err) {
      throw invalidArgument(`The archive's ${name} is missing or not valid JSON.`, { cause: err });
    }
  }
}

async function spoolArchive(src: ByteSource, dir: string, signal?: AbortSignal): Promise<Spool> {
  const spool = new Spool(dir);
  const extract = tar.extract();
  const input = Readable.from(decompress(src));
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      signal?.throwIfAborted();
      const h = entry.header;
      const rel = entryParts(h.name).join('/');
      if (rel !== '' && (h.type === 'symlink' || h.type === 'link')) {
        const target =
          h.type === 'symlink' && !h.linkname.startsWith('/') ? posix.join(posix.dirname(rel), h.linkname) : h.linkname;
        const norm = posix.normalize(target);
        if (norm.startsWith('..') || norm.startsWith('/')) {
          throw invalidArgument(`The archive entry "${h.name}" links outside the archive; it was rejected.`);
        }
        spool.links.set(rel, norm);
      } else if (rel !== '' && (h.type === 'file' || h.type === 'contiguous-file')) {
        // Names are checked above and no symlink is ever created on disk, so writes stay in `dir`.
        await mkdir(dirname(join(dir, rel)), { recursive: true });
        const fh = await open(join(dir, rel), 'w');
        try {
          for await (const chunk of entry) await fh.write(chunk as Buffer);
        } finally {
          await fh.close();
        }
      }
      entry.resume();
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    if (signal?.aborted) throw signal.reason;
    if (err instanceof Error && err.constructor === Error && !('syscall' in err)) {
      throw invalidArgument(`The archive is not a valid tar: ${err.message}.`, { cause: err });
    }
    throw err;
  }
  return spool;
}

/**
 * Loads a docker archive (`docker save` output, old `<id>/layer.tar` layout
 * or docker 25's `blobs/sha256/...`) or an OCI image layout tar, tags what it
 * names, and reports "Loaded image: busybox:latest" lines through `onProgress`.
 *
 * @throws InvalidArgument for an archive of neither kind or a malicious layer;
 *   DataLoss when a layer does not match its config.
 */
export async function loadImages(
  svc: ImageService,
  src: ByteSource,
  onProgress: ProgressSink,
  signal?: AbortSignal,
): Promise<LoadResult> {
  const dir = await mkdtemp(join(svc.tmpRoot, 'load-'));
  try {
    const spool = await spoolArchive(src, dir, signal);
    const result: LoadResult = { refs: [], ids: [] };
    const loaded = async (id: string, refs: string[]): Promise<void> => {
      for (const r of refs) {
        const full = formatReference(parseReference(r));
        await svc.tagLoaded(full, id);
        result.refs.push(familiarReference(full));
        onProgress({ id: '', status: `Loaded image: ${familiarReference(full)}` });
      }
      if (refs.length === 0) onProgress({ id: '', status: `Loaded image ID: ${id}` });
      result.ids.push(id);
      svc.emit('load', id);
    };
    const fileLayer = (path: string): NewLayer => ({ open: () => createReadStream(spool.resolve(path)) });

    if (await spool.has('manifest.json')) {
      const entries = await spool.json<DockerManifestEntry[]>('manifest.json');
      if (!Array.isArray(entries)) throw invalidArgument("The archive's manifest.json is not a list of images.");
      for (const e of entries) {
        const configBytes = await readFile(spool.resolve(e.Config)).catch((err: unknown) => {
          throw invalidArgument(`The archive names config ${e.Config}, which it does not contain.`, { cause: err });
        });
        const rec = await svc.createImage({
          configBytes,
          layers: e.Layers.map(fileLayer),
          onProgress,
          signal,
        });
        await loaded(rec.id, e.RepoTags ?? []);
      }
      return result;
    }
    if (await spool.has('index.json')) {
      const blob = (d: string): string => `blobs/${d.replace(':', '/')}`;
      const index = await spool.json<ImageIndex>('index.json');
      for (const desc of index.manifests ?? []) {
        const manifestDesc = await pickManifest(spool, desc, blob);
        const manifest = await spool.json<Manifest>(blob(manifestDesc.digest));
        const configBytes = await readFile(spool.resolve(blob(manifest.config.digest)));
        const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
        if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
          throw invalidArgument(`Image manifest ${manifestDesc.digest} and its config disagree on the number of layers.`);
        }
        const rec = await svc.createImage({
          configBytes,
          layers: manifest.layers.map((l): NewLayer => ({ ...fileLayer(blob(l.digest)), digest: l.digest, size: l.size })),
          onProgress,
          signal,
        });
        const name = desc.annotations?.['io.containerd.image.name'] ?? desc.annotations?.['org.opencontainers.image.ref.name'];
        // A bare OCI ref.name ("latest") names no repository, so it cannot become a tag.
        const refs = name !== undefined && /[:/]/.test(name) ? [name] : [];
        await loaded(rec.id, refs);
      }
      return result;
    }
    throw invalidArgument(
      'The archive is neither a docker archive (manifest.json) nor an OCI image layout (index.json); nothing was loaded.',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function pickManifest(spool: Spool, desc: Descriptor, blob: (d: string) => string): Promise<Descriptor> {
  if (desc.mediaType !== MEDIA_TYPE.ociIndex && desc.mediaType !== MEDIA_TYPE.dockerManifestList) return desc;
  const nested = await spool.json<ImageIndex>(blob(desc.digest));
  const pick =
    nested.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? nested.manifests[0];
  if (!pick) throw invalidArgument(`Image index ${desc.digest} lists no manifests.`);
  return pickManifest(spool, { ...pick, annotations: { ...desc.annotations, ...pick.annotations } }, blob);
}
