import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '@shoal/api';

const MAX_LINK_HOPS = 40;

/**
 * The components of a tar entry name, relative to the layer root ("./a/b/" →
 * ["a", "b"]; "./" → []).
 *
 * @throws InvalidArgument for absolute names and names with "..".
 */
export function entryParts(name: string): string[] {
  if (name.startsWith('/')) {
    throw invalidArgument(`Layer entry "${name}" has an absolute path; the layer was rejected.`);
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw invalidArgument(`Layer entry "${name}" contains "..", which would escape the root; the layer was rejected.`);
  }
  return parts;
}

export interface ResolveOptions {
  /** Create missing directories (0755) along the way instead of failing. */
  create?: boolean;
}

/**
 * Resolves directory components below `root`, following symlinks only while
 * they stay inside it. Returns the real absolute path, or undefined when a
 * component is missing and `create` is off.
 *
 * @throws InvalidArgument when a symlink leads outside the root (absolute or
 *   via ".."), or a component is not a directory; `entry` names the offender.
 */
export async function resolveDirInRoot(
  root: string,
  parts: string[],
  entry: string,
  options: ResolveOptions = {},
): Promise<string | undefined> {
  const resolved: string[] = [];
  const queue = [...parts];
  let hops = 0;
  while (queue.length > 0) {
    const comp = queue.shift() as string;
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      if (resolved.length === 0) throw escape(entry);
      resolved.pop();
      continue;
    }
    const abs = join(root, ...resolved, comp);
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) {
      if (!options.create) return undefined;
      await mkdir(abs, { mode: 0o755 });
      resolved.push(comp);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_LINK_HOPS) {
        throw invalidArgument(`Layer entry "${entry}" goes through too many symlinks; the layer was rejected.`);
      }
      const target = await readlink(abs);
      // An absolute target means the host's root to the kernel: never follow it.
      if (target.startsWith('/')) throw escape(entry);
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) {
      throw invalidArgument(
        `Layer entry "${entry}" needs "${[...resolved, comp].join('/')}" to be a directory, but it is not; the layer was rejected.`,
      );
    }
    resolved.push(comp);
  }
  return join(root, ...resolved);
}

function escape(entry: string): Error {
  return invalidArgument(
    `Layer entry "${entry}" goes through a symlink that points outside the root; the layer was rejected.`,
  );
}
