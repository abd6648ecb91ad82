// Persistent network namespaces as files: the namespace lives while its file
// is a bind mount of a /proc/<pid>/ns/net, so a sandbox outlives the process
// that made it and containers join it by path (runc's namespace path).
import { rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isMountPoint, unmount } from '../snapshots/mount.js';
import { run } from './run.js';

/** Creates a new, empty network namespace bound at `path` (idempotent). Throws Internal. */
export async function createNetns(path: string, signal?: AbortSignal): Promise<void> {
  if (await isMountPoint(path)) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '', { flag: 'a' });
  await run('unshare', [`--net=${path}`, 'true'], signal ? { signal } : {});
}

/** Unbinds and deletes a namespace file; the namespace ends with its last user. Throws Internal. */
export async function removeNetns(path: string): Promise<void> {
  await unmount(path);
  await rm(path, { force: true });
}
