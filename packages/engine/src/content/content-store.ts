import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { dataLoss, notFound } from '@shoal/api';
import { digestHex } from './digest.js';

/** What the store knows about one blob. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** What a writer promises about the bytes it sends; checked before commit. */
export interface ExpectedBlob {
  digest?: string;
  size?: number;
}

/**
 * Write-once, content-addressed blobs under `<root>/blobs/sha256/<hex>`.
 * Writers stream into `<root>/ingest`, the digest and size are checked, the
 * file is fsynced and only then renamed into place, so a reader never sees a
 * partial or wrong blob and a failed write leaves nothing behind.
 */
export class ContentStore {
  readonly root: string;
  private readonly blobs: string;
  private readonly ingest: string;

  constructor(root: string) {
    this.root = root;
    this.blobs = join(root, 'blobs', 'sha256');
    this.ingest = join(root, 'ingest');
  }

  /** Creates the directories and drops ingest files a crash left behind. */
  async init(): Promise<void> {
    await mkdir(this.blobs, { recursive: true });
    await rm(this.ingest, { recursive: true, force: true });
    await mkdir(this.ingest, { recursive: true });
  }

  /**
   * The file path of a blob (which may not exist).
   *
   * @throws InvalidArgument for a malformed digest.
   */
  path(digest: string): string {
    return join(this.blobs, digestHex(digest));
  }

  /**
   * Streams `src` into the store.
   *
   * @throws DataLoss when the bytes do not match `expected` (nothing is kept).
   * @throws InvalidArgument for a malformed expected digest; the signal's reason on abort.
   */
  async put(
    src: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    expected: ExpectedBlob = {},
    signal?: AbortSignal,
  ): Promise<BlobInfo> {
    if (expected.digest !== undefined) digestHex(expected.digest);
    const tmp = join(this.ingest, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    let committed = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of src as AsyncIterable<Uint8Array>) {
        signal?.throwIfAborted();
        hash.update(chunk);
        size += chunk.byteLength;
        if (expected.size !== undefined && size > expected.size) {
          throw dataLoss(`Content is larger than the expected ${expected.size} bytes; the blob was not stored.`);
        }
        await fh.write(chunk);
      }
      signal?.throwIfAborted();
      const digest = `sha256:${hash.digest('hex')}`;
      if (expected.size !== undefined && size !== expected.size) {
        throw dataLoss(`Content is ${size} bytes, expected ${expected.size}; the blob was not stored.`);
      }
      if (expected.digest !== undefined && digest !== expected.digest) {
        throw dataLoss(`Content digest ${digest} does not match the expected ${expected.digest}; the blob was not stored.`);
      }
      await fh.sync();
      await fh.close();
      await rename(tmp, this.path(digest));
      committed = true;
      return { digest, size };
    } finally {
      if (!committed) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
  }

  /**
   * Stores a buffer.
   *
   * @throws DataLoss when the bytes do not match `expected`.
   */
  async putBytes(buf: Uint8Array, expected: ExpectedBlob = {}): Promise<BlobInfo> {
    return this.put([buf], expected);
  }

  /** @throws InvalidArgument for a malformed digest. */
  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.path(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** @throws NotFound when the blob is absent; InvalidArgument for a malformed digest. */
  async info(digest: string): Promise<BlobInfo> {
    try {
      const st = await stat(this.path(digest));
      return { digest, size: st.size };
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  /** @throws NotFound when the blob is absent; InvalidArgument for a malformed digest. */
  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  /**
   * A stream of the blob's bytes.
   *
   * @throws NotFound when the blob is absent; InvalidArgument for a malformed digest.
   */
  async readStream(digest: string, signal?: AbortSignal): Promise<Readable> {
    await this.info(digest);
    return createReadStream(this.path(digest), signal ? { signal } : {});
  }

  /** Deletes a blob; absent blobs are ignored. @throws InvalidArgument for a malformed digest. */
  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Every stored blob. */
  async list(): Promise<BlobInfo[]> {
    const names = await readdir(this.blobs);
    const out: BlobInfo[] = [];
    for (const name of names.sort()) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const st = await stat(join(this.blobs, name)).catch(() => undefined);
      if (st) out.push({ digest: `sha256:${name}`, size: st.size });
    }
    return out;
  }

  private mapMissing(err: unknown, digest: string): unknown {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return notFound(`No such content blob: ${digest}.`);
    }
    return err;
  }
}
