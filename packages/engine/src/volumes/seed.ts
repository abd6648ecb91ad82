// Seeding: a volume mounted over a path the image populates starts with the
// image's files there, as with docker (only into an empty volume, never for
// binds or with nocopy).
import { lstat, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { runCommand } from '../archive/run-command.js';

/**
 * Resolves `path` (absolute, inside the container) against `rootfs` the way
 * the container would see it, following symlinks without ever leaving the
 * rootfs (an absolute or `..` link is taken relative to the rootfs). Returns
 * the host path, or undefined when some component does not exist.
 */
export async function resolveInRoot(rootfs: string, path: string): Promise<string | undefined> {
  const todo = posix.normalize(path).split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(rootfs, ...done, part);
    const st = await lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > 40) return undefined;
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return posix.join(rootfs, ...done);
}

/**
 * Copies what the image has at `destination` into the volume directory
 * `volumePath` when the volume is empty, preserving modes, owners, times,
 * symlinks and hard links, and giving the volume's root the directory's own
 * mode and owner. Returns whether anything was copied.
 * Throws Internal with cp's message when copying fails.
 */
export async function seedVolume(rootfs: string, destination: string, volumePath: string, signal?: AbortSignal): Promise<boolean> {
  const src = await resolveInRoot(rootfs, destination);
  if (!src) return false;
  const st = await lstat(src);
  if (!st.isDirectory()) return false;
  if ((await readdir(volumePath)).length > 0) return false;
  // `src/.` into an existing directory merges the contents and copies the
  // directory's own attributes onto it.
  await runCommand('cp', ['-a', '--', `${src}/.`, volumePath], signal ? { signal } : {});
  return true;
}
