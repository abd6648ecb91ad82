import { rmdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { failedPrecondition, invalidArgument, sleep } from '@shoal/api';
import { cgroupMounts, type CgroupMounts, type CgroupMode } from './mode.js';

/** Where a container's cgroup lives, per hierarchy. */
export interface CgroupPaths {
  mode: CgroupMode;
  /** v2: the container's directory in the unified tree. */
  unified?: string;
  /** v1: controller name (cpu, cpuacct, memory, pids, blkio, freezer, ...) to its directory. */
  v1: Record<string, string>;
}

/** The v1 controllers runc's cgroupfs driver puts a container in. */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc'];

/**
 * Normalises a runc `cgroupsPath` for the cgroupfs driver ("/shoal/<id>" or
 * "<parent>/<id>"; both are taken from the hierarchy root).
 * Throws InvalidArgument for an empty path or one with "..".
 */
export function normalizeCgroupsPath(cgroupsPath: string): string {
  const parts = cgroupsPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) {
    throw invalidArgument(`invalid cgroup path '${cgroupsPath}'; use a path such as /shoal/<id> without "..".`);
  }
  return `/${parts.join('/')}`;
}

/**
 * The host directories of a container cgroup, as runc's cgroupfs driver lays
 * them out. Throws InvalidArgument for a malformed path.
 */
export function cgroupPaths(cgroupsPath: string, mounts: CgroupMounts = cgroupMounts()): CgroupPaths {
  const rel = normalizeCgroupsPath(cgroupsPath);
  if (mounts.mode === 'v2') {
    return { mode: 'v2', unified: path.join(mounts.unified ?? '/sys/fs/cgroup', rel), v1: {} };
  }
  const v1: Record<string, string> = {};
  for (const c of V1_CONTROLLERS) {
    const mp = mounts.v1.get(c);
    if (mp) v1[c] = path.join(mp, rel);
  }
  return { mode: mounts.mode, v1 };
}

/** Every directory of a cgroup, across hierarchies. */
export function cgroupDirs(paths: CgroupPaths): string[] {
  const dirs = new Set<string>(Object.values(paths.v1));
  if (paths.unified) dirs.add(paths.unified);
  return [...dirs];
}

async function rmTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await rmTree(path.join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Removes a container's cgroup (and any child cgroups) from every hierarchy.
 * A cgroup whose last process just died can stay busy for a moment, so EBUSY
 * is retried for up to about a second. Missing directories are fine.
 * Throws FailedPrecondition when processes still live in it.
 */
export async function removeCgroup(cgroupsPath: string, signal?: AbortSignal): Promise<void> {
  const paths = cgroupPaths(cgroupsPath);
  for (const dir of cgroupDirs(paths)) {
    for (let attempt = 0; ; attempt++) {
      try {
        await rmTree(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EBUSY' && attempt < 20) {
          await sleep(50, signal);
          continue;
        }
        if (code === 'EBUSY') {
          throw failedPrecondition(`cgroup ${dir} still has processes; stop the container before removing its cgroup.`, { cause: err });
        }
        throw err;
      }
    }
  }
}
