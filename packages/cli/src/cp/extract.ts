// Extracts a tar stream into a local directory without ever writing outside
// it: entries with absolute paths or "..", paths through symlinks, and hard
// links that point outside are refused before anything is written for them.
import { constants, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { posix, join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface ExtractOptions {
  /** Replace the archive's first path component with this name (cp to a new name); "" drops it (cp SRC/. DEST). */
  renameTop?: string;
  /** Keep the archive's uid/gid (cp -a); only effective as root. */
  preserveOwner?: boolean;
}

/** A tar entry that would escape the destination. */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/**
 * The entry's path relative to the destination, or undefined for the root
 * itself. Throws UnsafePathError for absolute paths and ".." components.
 */
export function safeRelative(name: string): string | undefined {
  if (name.startsWith('/')) throw new UnsafePathError(`refusing to extract "${name}": absolute paths are not allowed in the archive`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafePathError(`refusing to extract "${name}": it would write outside the destination`);
  return parts.length === 0 ? undefined : parts.join('/');
}

/** Applies ExtractOptions.renameTop ("" drops the top component, leaving its contents). */
function renamed(rel: string, top: string | undefined): string | undefined {
  if (top === undefined) return rel;
  const [, ...rest] = rel.split('/');
  if (top === '') return rest.length > 0 ? rest.join('/') : undefined;
  return [top, ...rest].join('/');
}

/** Throws UnsafePathError when any existing parent of `rel` under `root` is a symlink or not a directory. */
async function checkParents(root: string, rel: string): Promise<void> {
  const parts = rel.split('/');
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur = join(cur, p);
    let st;
    try {
      st = await fs.lstat(cur);
    } catch {
      return; // missing parents are created as plain directories
    }
    if (st.isSymbolicLink()) {
      throw new UnsafePathError(`refusing to extract "${rel}": its path goes through the symbolic link "${posix.join(...parts.slice(0, parts.indexOf(p) + 1))}"`);
    }
    if (!st.isDirectory()) throw new UnsafePathError(`refusing to extract "${rel}": "${p}" is not a directory`);
  }
}

async function removeIfNotDir(path: string): Promise<void> {
  try {
    const st = await fs.lstat(path);
    if (!st.isDirectory()) await fs.unlink(path);
  } catch {
    // absent
  }
}

/**
 * Extracts `source` (a tar stream) under the existing directory `dest`.
 * Throws UnsafePathError for an entry that would land outside `dest`
 * (nothing is written for that entry), and I/O errors as they come.
 */
export async function extractTar(source: Readable, dest: string, options: ExtractOptions = {}): Promise<void> {
  const root = await fs.realpath(dest);
  const ex = tar.extract();
  const consume = (async () => {
    const dirTimes: [string, Date][] = [];
    for await (const entry of ex) {
      const h = entry.header;
      let rel = safeRelative(h.name);
      if (rel !== undefined) rel = renamed(rel, options.renameTop);
      if (rel === undefined) {
        entry.resume();
        continue;
      }
      await checkParents(root, rel);
      const target = join(root, rel);
      await fs.mkdir(posix.dirname(target), { recursive: true });
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory': {
          try {
            const st = await fs.lstat(target);
            if (!st.isDirectory()) {
              await fs.unlink(target);
              await fs.mkdir(target, { mode });
            }
          } catch {
            await fs.mkdir(target, { mode });
          }
          await fs.chmod(target, mode);
          if (h.mtime) dirTimes.push([target, h.mtime]);
          entry.resume();
          break;
        }
        case 'file':
        case 'contiguous-file':
        case undefined:
        case null: {
          // Never write through an existing symlink: replace it.
          await removeIfNotDir(target);
          const fh = await fs.open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
          try {
            for await (const chunk of entry) await fh.write(chunk as Buffer);
            await fh.chmod(mode);
            if (h.mtime) await fh.utimes(h.mtime, h.mtime);
          } finally {
            await fh.close();
          }
          break;
        }
        case 'symlink': {
          await removeIfNotDir(target);
          await fs.symlink(h.linkname ?? '', target);
          if (h.mtime) await fs.lutimes(target, h.mtime, h.mtime).catch(() => undefined);
          entry.resume();
          break;
        }
        case 'link': {
          let linkRel = safeRelative(h.linkname ?? '');
          if (linkRel === undefined) throw new UnsafePathError(`refusing to extract "${h.name}": hard link to the destination root`);
          linkRel = renamed(linkRel, options.renameTop);
          if (linkRel === undefined) throw new UnsafePathError(`refusing to extract "${h.name}": hard link to the destination root`);
          await checkParents(root, linkRel);
          const from = join(root, linkRel);
          const st = await fs.lstat(from);
          if (!st.isFile()) throw new UnsafePathError(`refusing to extract "${h.name}": hard links may only point at regular files in the archive`);
          await removeIfNotDir(target);
          await fs.link(from, target);
          entry.resume();
          break;
        }
        default:
          // Devices, fifos and the like are skipped: a copy is not a root filesystem.
          entry.resume();
          continue;
      }
      if (options.preserveOwner && process.getuid?.() === 0 && h.uid !== undefined && h.gid !== undefined) {
        await fs.lchown(target, h.uid, h.gid);
      }
    }
    // Directory times last: writing their children changed them.
    for (const [d, t] of dirTimes.reverse()) await fs.utimes(d, t, t).catch(() => undefined);
  })();
  const fed = pipeline(source, ex);
  try {
    await Promise.all([consume, fed]);
  } catch (err) {
    ex.destroy();
    source.destroy();
    await Promise.allSettled([consume, fed]);
    throw err;
  }
}
