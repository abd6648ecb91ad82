// Reads what the compatibility tests compare from a `docker save` archive:
// manifest.json and the image configs it names. Kept independent of the
// engine's own reader, so that the tests check the engine against the bytes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';

export interface ArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

export interface ArchiveImage {
  /** sha256:<hex> of the config blob: Docker's image ID. */
  id: string;
  repoTags: string[];
  layers: string[];
  config: {
    config?: { Cmd?: string[] | null; Env?: string[] | null; Labels?: Record<string, string> | null };
    rootfs: { type: string; diff_ids: string[] };
    history?: { comment?: string; created_by?: string }[];
  };
}

export interface DockerArchive {
  images: ArchiveImage[];
  /** Every entry name in the archive, in order. */
  entries: string[];
  /** sha256:<hex> of each layer file named by the manifest. */
  layerDigests: Map<string, string>;
}

/** Reads a (possibly gzip-compressed) docker archive. Throws when it is not one. */
export async function readDockerArchive(file: string): Promise<DockerArchive> {
  let bytes = await readFile(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const files = new Map<string, Buffer>();
  const entries: string[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      entries.push(name);
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(name, Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([bytes]).pipe(ex);
  await done;

  const manifestBytes = files.get('manifest.json');
  if (manifestBytes === undefined) throw new Error(`${file} has no manifest.json: not a docker archive.`);
  const manifest = JSON.parse(manifestBytes.toString()) as ArchiveManifestEntry[];
  const layerDigests = new Map<string, string>();
  const images = manifest.map((m): ArchiveImage => {
    const configBytes = files.get(m.Config);
    if (configBytes === undefined) throw new Error(`${file} names config ${m.Config} but does not hold it.`);
    for (const l of m.Layers) {
      const b = files.get(l);
      if (b === undefined) throw new Error(`${file} names layer ${l} but does not hold it.`);
      layerDigests.set(l, `sha256:${createHash('sha256').update(b).digest('hex')}`);
    }
    return {
      id: `sha256:${createHash('sha256').update(configBytes).digest('hex')}`,
      repoTags: m.RepoTags ?? [],
      layers: m.Layers,
      config: JSON.parse(configBytes.toString()) as ArchiveImage['config'],
    };
  });
  return { images, entries, layerDigests };
}
