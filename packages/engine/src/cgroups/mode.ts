import { readFileSync } from 'node:fs';

/**
 * How cgroups are mounted: `v1` (controllers only), `hybrid` (v1 controllers
 * plus an empty v2 tree, e.g. at /sys/fs/cgroup/unified) or `v2` (unified).
 */
export type CgroupMode = 'v1' | 'hybrid' | 'v2';

export interface CgroupMounts {
  mode: CgroupMode;
  /** The v2 mount point, when there is one. */
  unified?: string;
  /** v1 controller name (cpu, memory, ...) to its mount point. */
  v1: Map<string, string>;
}

/** Parses /proc/self/mountinfo text into the cgroup mounts it lists. */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    const mountPoint = pre[4];
    const fstype = post[0];
    if (mountPoint === undefined) continue;
    const mp = mountPoint.replace(/\\040/g, ' ');
    if (fstype === 'cgroup2') {
      unified ??= mp;
    } else if (fstype === 'cgroup') {
      for (const opt of (post[2] ?? '').split(',')) {
        // Super options name the controllers (and name=systemd for the named hierarchy).
        if (['rw', 'ro', 'relatime', 'noexec', 'nosuid', 'nodev', 'clone_children', 'noprefix'].includes(opt)) continue;
        if (opt.startsWith('release_agent=')) continue;
        if (!v1.has(opt)) v1.set(opt, mp);
      }
    }
  }
  const hasControllers = [...v1.keys()].some((k) => !k.startsWith('name='));
  const mode: CgroupMode = hasControllers ? (unified ? 'hybrid' : 'v1') : 'v2';
  return unified === undefined ? { mode, v1 } : { mode, unified, v1 };
}

let cached: CgroupMounts | undefined;

/** The cgroup mounts of this host (read once from /proc/self/mountinfo). */
export function cgroupMounts(): CgroupMounts {
  cached ??= parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
  return cached;
}

/** The cgroup mode of this host. */
export function cgroupMode(): CgroupMode {
  return cgroupMounts().mode;
}
