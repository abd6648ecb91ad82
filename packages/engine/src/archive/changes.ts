import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from './apply-layer.js';
import { runCommand } from './run-command.js';

export type ChangeKind = 'A' | 'C' | 'D';

/** One change of a container's filesystem, as `docker diff` prints it. */
export interface Change {
  kind: ChangeKind;
  /** Absolute inside the container: `/etc/passwd`. */
  path: string;
}

interface UpperEntry {
  /** Relative: `etc/passwd`. */
  rel: string;
  st: Stats;
  kind: ChangeKind;
  opaque: boolean;
}

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** Whether `rel` is visible through the lower directories (top first). */
async function inLowers(lowers: string[], rel: string): Promise<boolean> {
  for (const lower of lowers) {
    const st = await lstatOrUndefined(join(lower, rel));
    if (st) return !isWhiteout(st);
  }
  return false;
}

/** Directories of `upper` that carry the overlay opaque xattr, relative. */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  const out = await runCommand('getfattr', [
    '-R',
    '-P',
    '--absolute-names',
    '-m',
    `^${OVERLAY_OPAQUE_XATTR.replace(/\./g, '\\.')}$`,
    '-d',
    upper,
  ]).catch(() => '');
  const dirs = new Set<string>();
  let file: string | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
    else if (file !== undefined && line.startsWith(`${OVERLAY_OPAQUE_XATTR}="y"`)) {
      dirs.add(file === upper ? '' : file.slice(upper.length + 1));
    }
  }
  return dirs;
}

async function scanUpper(lowers: string[], upper: string): Promise<UpperEntry[]> {
  const opaque = lowers.length > 0 ? await opaqueDirs(upper) : new Set<string>();
  const out: UpperEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(upper, rel))).sort();
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(upper, childRel));
      const existed = await inLowers(lowers, childRel);
      if (isWhiteout(st) && lowers.length > 0) {
        if (existed) out.push({ rel: childRel, st, kind: 'D', opaque: false });
        continue;
      }
      out.push({ rel: childRel, st, kind: existed ? 'C' : 'A', opaque: opaque.has(childRel) });
      if (st.isDirectory()) await walk(childRel);
    }
  }
  await walk('');
  return out;
}

/**
 * The changes an overlay upper directory makes to its lower directories
 * (top first): additions, changes, and deletions (0/0 character devices).
 * With no lowers it lists every entry of `upper` as added.
 *
 * @throws the file system's error when a directory cannot be read.
 */
export async function diffDirectory(lowers: string[], upper: string): Promise<Change[]> {
  const entries = await scanUpper(lowers, upper);
  return entries.map((e) => ({ kind: e.kind, path: `/${e.rel}` }));
}

function devNumbers(rdev: number): { devmajor: number; devminor: number } {
  return {
    devmajor: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    devminor: (rdev & 0xff) | ((rdev >> 12) & ~0xff),
  };
}

async function writeEntries(root: string, entries: UpperEntry[], pack: tar.Pack, signal?: AbortSignal): Promise<void> {
  const links = new Map<string, string>();
  const add = (header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  for (const e of entries) {
    signal?.throwIfAborted();
    const { st, rel } = e;
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (e.kind === 'D') {
      const slash = rel.lastIndexOf('/');
      const name = `${rel.slice(0, slash + 1)}${WHITEOUT_PREFIX}${rel.slice(slash + 1)}`;
      await add({ ...base, name, type: 'file', mode: 0o644, size: 0 });
      continue;
    }
    if (st.isDirectory()) {
      await add({ ...base, name: `${rel}/`, type: 'directory' });
      if (e.opaque) await add({ ...base, name: `${rel}/${OPAQUE_WHITEOUT}`, type: 'file', mode: 0o644, size: 0 });
    } else if (st.isSymbolicLink()) {
      await add({ ...base, name: rel, type: 'symlink', linkname: await readlink(join(root, rel)) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await add({ ...base, name: rel, type: 'link', linkname: first });
        continue;
      }
      if (st.nlink > 1) links.set(key, rel);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...base, name: rel, type: 'file', size: st.size }, (err) =>
          err ? reject(err) : resolve(),
        );
        pipeline(createReadStream(join(root, rel)), sink).catch(reject);
      });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await add({ ...base, name: rel, type: st.isCharacterDevice() ? 'character-device' : 'block-device', ...devNumbers(st.rdev) });
    } else if (st.isFIFO()) {
      await add({ ...base, name: rel, type: 'fifo' });
    }
    // Sockets cannot be stored in a tar; docker skips them too.
  }
}

function packInBackground(fill: (pack: tar.Pack) => Promise<void>): Readable {
  const pack = tar.pack();
  fill(pack).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return Readable.from(pack);
}

/**
 * A layer tar of what an overlay upper directory changed: added and changed
 * entries with their content, `.wh.<name>` for deletions and
 * `.wh..wh..opq` for opaque directories. Hard links inside the upper
 * directory are kept. Errors surface as stream errors.
 */
export function tarChanges(lowers: string[], upper: string, signal?: AbortSignal): Readable {
  return packInBackground(async (pack) => {
    await writeEntries(upper, await scanUpper(lowers, upper), pack, signal);
  });
}

/** A tar of a whole directory tree (e.g. a mounted container root for `export`). */
export function tarDirectory(root: string, signal?: AbortSignal): Readable {
  return packInBackground(async (pack) => {
    await writeEntries(root, await scanUpper([], root), pack, signal);
  });
}
