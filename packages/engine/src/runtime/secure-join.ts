import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { invalidArgument } from '@shoal/api';

const MAX_LINKS = 255;

/**
 * Resolves `unsafePath` inside `root` the way the container would see it:
 * symlinks are followed but evaluated with `root` as "/", so `..` and absolute
 * link targets can never lead out of `root`. Components that do not exist are
 * kept as they are. Returns an absolute host path inside `root`.
 * Throws InvalidArgument after too many links (a loop).
 */
export async function secureJoin(root: string, unsafePath: string): Promise<string> {
  const base = path.resolve(root);
  let pending = unsafePath.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = path.join(base, ...done, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch {
      // Missing: keep the name; later parts cannot be links either.
      done.push(part);
      continue;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links resolving ${unsafePath} in the container.`);
    const target = await readlink(candidate);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
  }
  return path.join(base, ...done);
}

/**
 * Reads a small file inside an untrusted root, resolving it with secureJoin
 * and refusing a final symlink swapped in meanwhile (O_NOFOLLOW).
 * Returns undefined when the file does not exist or is not a regular file.
 */
export async function readFileInRoot(root: string, unsafePath: string, maxBytes = 4 * 1024 * 1024): Promise<string | undefined> {
  const full = await secureJoin(root, unsafePath);
  let fh;
  try {
    fh = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, maxBytes));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}
