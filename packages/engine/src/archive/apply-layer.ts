import { createHash, randomBytes } from 'node:crypto';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rename, rm, rmdir, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { errorCode, invalidArgument, nopLogger, type Logger } from '@shoal/api';
import { decompress, type ByteSource } from './decompress.js';
import { runCommand } from './run-command.js';
import { entryParts, resolveDirInRoot } from './safe-path.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export interface ApplyLayerOptions {
  signal?: AbortSignal;
  logger?: Logger;
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar: the layer's diff ID. */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/** The pax header fields tar-stream exposes but does not type. */
type PaxHeaders = tar.Header & { pax?: Record<string, string> | null };

/**
 * Applies a layer tar (plain, gzip or zstd) as an overlayfs upper directory:
 * `.wh.<name>` becomes a 0/0 character device and `.wh..wh..opq` the opaque
 * xattr on its directory. The layer is unpacked into a temporary sibling of
 * `dest` and renamed onto it only when every entry applied, so a rejected
 * layer leaves nothing behind. `dest` must be absent or an empty directory.
 * Symlinks are followed (inside the root only) among the layer's own entries;
 * a lower layer's symlink is not seen, so `lib/x` over a lower `lib -> usr/lib`
 * lands in a new upper `lib/` directory (well-formed layers never do this).
 *
 * @throws InvalidArgument naming the entry for absolute paths, "..", paths
 *   through symlinks that leave the root, hardlinks to outside the layer, or a
 *   stream that is not a tar; the signal's reason on abort.
 */
export async function applyLayer(
  src: ByteSource,
  dest: string,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const tmp = join(dirname(dest), `.${basename(dest)}.apply-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { mode: 0o755 });
  try {
    const result = await applyInto(src, tmp, options);
    await rmdir(dest).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await rename(tmp, dest);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function applyInto(
  src: ByteSource,
  root: string,
  options: ApplyLayerOptions,
): Promise<ApplyLayerResult> {
  const logger = options.logger ?? nopLogger;
  const signal = options.signal;
  const hash = createHash('sha256');
  let size = 0;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of decompress(src)) {
      signal?.throwIfAborted();
      hash.update(chunk);
      size += chunk.byteLength;
      yield chunk;
    }
  }
  const input = Readable.from(hashed());
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  const dirTimes: [string, Date][] = [];
  try {
    for await (const entry of extract) {
      signal?.throwIfAborted();
      await applyEntry(root, entry, dirTimes, logger, signal);
      // Drain whatever the handler did not read so the parser moves on.
      for await (const _ of entry) void _;
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    if (signal?.aborted) throw signal.reason;
    // Our own errors and system errors say what they mean; anything else came from the tar parser.
    if (errorCode(err) !== 'Unknown' || !(err instanceof Error) || err.constructor !== Error || 'syscall' in err) throw err;
    throw invalidArgument(`The layer is not a valid tar archive: ${(err).message}.`, { cause: err });
  }
  // Directory times last: creating children would have changed them.
  for (const [path, mtime] of dirTimes.reverse()) await utimes(path, mtime, mtime);
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

async function applyEntry(
  root: string,
  entry: AsyncIterable<unknown> & { header: tar.Header },
  dirTimes: [string, Date][],
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<void> {
  const h = entry.header as PaxHeaders;
  const type = h.type ?? 'file';
  const name = h.name;
  const parts = entryParts(name);
  if (parts.length === 0) {
    // The root itself ("./"): only its metadata applies.
    if (type === 'directory') await setMeta(root, h, dirTimes, true);
    return;
  }
  const base = parts[parts.length - 1] as string;
  const parent = await resolveDirInRoot(root, parts.slice(0, -1), name, { create: true });
  if (parent === undefined) throw invalidArgument(`Layer entry "${name}" has no parent directory.`);

  if (base === OPAQUE_WHITEOUT) {
    await runCommand('setfattr', ['-n', OVERLAY_OPAQUE_XATTR, '-v', 'y', parent], { signal });
    return;
  }
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    // Other ".wh..wh." names are aufs bookkeeping with no meaning here.
    if (hidden.startsWith(WHITEOUT_PREFIX) || hidden === '') return;
    const path = join(parent, hidden);
    await rm(path, { recursive: true, force: true });
    await runCommand('mknod', ['-m', '0', path, 'c', '0', '0'], { signal });
    return;
  }

  const path = join(parent, base);
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !(existing.isDirectory() && type === 'directory')) {
    await rm(path, { recursive: true, force: true });
  }

  switch (type) {
    case 'directory':
      if (!existing?.isDirectory()) await mkdir(path, { mode: 0o755 });
      await setMeta(path, h, dirTimes, true);
      return;
    case 'file':
    case 'contiguous-file': {
      const fh = await open(path, 'wx', 0o600);
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) await fh.write(chunk);
      } finally {
        await fh.close();
      }
      await setMeta(path, h, dirTimes, false);
      return;
    }
    case 'symlink':
      await symlink(h.linkname ?? '', path);
      await lchown(path, h.uid ?? 0, h.gid ?? 0);
      if (h.mtime) await lutimes(path, h.mtime, h.mtime);
      return;
    case 'link': {
      const linkname = h.linkname ?? '';
      const targetParts = entryParts(linkname);
      const targetDir =
        targetParts.length > 0 ? await resolveDirInRoot(root, targetParts.slice(0, -1), name) : undefined;
      const target = targetDir === undefined ? undefined : join(targetDir, targetParts[targetParts.length - 1] as string);
      const st = target === undefined ? undefined : await lstat(target).catch(() => undefined);
      if (target === undefined || !st || st.isDirectory()) {
        throw invalidArgument(
          `Layer entry "${name}" is a hard link to "${linkname}", which is not a file earlier in the layer; the layer was rejected.`,
        );
      }
      await link(target, path);
      return;
    }
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      const args =
        type === 'fifo'
          ? [path, 'p']
          : [path, type === 'character-device' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
      try {
        await runCommand('mknod', args, { signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        logger.warn('skipping a device node the layer contains: cannot create it here', {
          'layer.entry': name,
          error: (err as Error).message,
        });
        return;
      }
      await setMeta(path, h, dirTimes, false);
      return;
    }
    default:
      logger.warn('skipping a layer entry of an unsupported type', { 'layer.entry': name, 'layer.type': type });
  }
}

async function setMeta(path: string, h: PaxHeaders, dirTimes: [string, Date][], isDir: boolean): Promise<void> {
  // chown before chmod: chown clears setuid/setgid bits.
  await lchown(path, h.uid ?? 0, h.gid ?? 0);
  await chmod(path, (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777);
  for (const [key, value] of Object.entries(h.pax ?? {})) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    const attr = key.slice('SCHILY.xattr.'.length);
    const hex = `0x${Buffer.from(value, 'binary').toString('hex')}`;
    await runCommand('setfattr', ['-h', '-n', attr, '-v', hex, path]).catch(() => undefined);
  }
  const mtime = h.mtime ?? new Date(0);
  if (isDir) dirTimes.push([path, mtime]);
  else await utimes(path, mtime, mtime);
}

/**
 * Extracts a tar into an existing directory (docker cp into a container).
 * Entries are confined to `dir`: the same checks as `applyLayer` reject
 * "..", absolute paths and paths through symlinks that leave it.
 *
 * @throws InvalidArgument naming a rejected entry; the signal's reason on abort.
 */
export async function extractInto(src: ByteSource, dir: string, options: ApplyLayerOptions = {}): Promise<void> {
  await applyInto(src, dir, options);
}
