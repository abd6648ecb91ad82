// Container statistics read from cgroup files, v1 and v2, computed the way
// `docker stats` computes them.
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import path from 'node:path';
import { cgroupPaths, type CgroupPaths } from './paths.js';

export type FreezerState = 'THAWED' | 'FREEZING' | 'FROZEN';

export interface CgroupStats {
  cpu: {
    /** Total CPU time of the container, in nanoseconds. */
    usageNs: number;
    /** Host CPU time since boot (all CPUs), in ns: the denominator of docker's CPU %. */
    systemUsageNs: number;
    onlineCpus: number;
  };
  memory: {
    /** Docker's "usage": usage minus inactive file cache. */
    usage: number;
    /** The effective limit; the host's memory when unlimited. */
    limit: number;
    /** How many times the OOM killer struck in this cgroup. */
    oomKills: number;
  };
  pids: {
    current: number;
    /** 0 when unlimited. */
    limit: number;
  };
  blkio: {
    readBytes: number;
    writeBytes: number;
  };
  freezer: FreezerState;
  /** When the numbers were read (ms since the epoch). */
  readAt: number;
}

async function readText(file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readNumber(file: string | undefined): Promise<number | undefined> {
  const t = (await readText(file))?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, oom_control). */
function keyValues(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

const join = (dir: string | undefined, file: string): string | undefined => (dir ? path.join(dir, file) : undefined);

// USER_HZ is 100 on every Linux architecture Shoal runs on.
const CLOCK_TICKS = 100;

/**
 * The host's total CPU time since boot in ns, from /proc/stat's first line
 * (user+nice+system+idle+iowait+irq+softirq), as docker stats uses.
 */
export async function systemCpuUsageNs(): Promise<number> {
  const text = (await readText('/proc/stat')) ?? '';
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const fields = line.trim().split(/\s+/).slice(1, 8).map(Number);
  const ticks = fields.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return (ticks * 1e9) / CLOCK_TICKS;
}

async function onlineCpus(): Promise<number> {
  const text = (await readText('/sys/devices/system/cpu/online'))?.trim() ?? '';
  let n = 0;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m) n += (m[2] === undefined ? Number(m[1]) : Number(m[2])) - Number(m[1]) + 1;
  }
  return n > 0 ? n : 1;
}

// cgroup v1 reports "no limit" as a page-rounded 2^63-1.
const UNLIMITED = 2 ** 62;

function blkioV1(text: string | undefined): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of (text ?? '').split('\n')) {
    const [, op, v] = line.trim().split(/\s+/);
    if (op === 'Read') read += Number(v);
    else if (op === 'Write') write += Number(v);
  }
  return { read, write };
}

function ioStatV2(text: string | undefined): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of (text ?? '').split('\n')) {
    for (const kv of line.trim().split(/\s+/).slice(1)) {
      const [k, v] = kv.split('=');
      if (k === 'rbytes') read += Number(v);
      else if (k === 'wbytes') write += Number(v);
    }
  }
  return { read, write };
}

/** Reads the OOM-kill count of a cgroup (0 when none or unknown). */
export async function oomKillCount(cgroupsPath: string | CgroupPaths): Promise<number> {
  const p = typeof cgroupsPath === 'string' ? cgroupPaths(cgroupsPath) : cgroupsPath;
  if (p.unified) return keyValues(await readText(join(p.unified, 'memory.events'))).get('oom_kill') ?? 0;
  return keyValues(await readText(join(p.v1.memory, 'memory.oom_control'))).get('oom_kill') ?? 0;
}

/** Reads the freezer state of a cgroup. */
export async function freezerState(cgroupsPath: string | CgroupPaths): Promise<FreezerState> {
  const p = typeof cgroupsPath === 'string' ? cgroupPaths(cgroupsPath) : cgroupsPath;
  if (p.unified) {
    const frozen = keyValues(await readText(join(p.unified, 'cgroup.events'))).get('frozen');
    if (frozen === 1) return 'FROZEN';
    const want = (await readText(join(p.unified, 'cgroup.freeze')))?.trim();
    return want === '1' ? 'FREEZING' : 'THAWED';
  }
  const s = (await readText(join(p.v1.freezer, 'freezer.state')))?.trim();
  return s === 'FROZEN' || s === 'FREEZING' ? s : 'THAWED';
}

/**
 * Reads a container's statistics from its cgroup (cgroupsPath as in config.json).
 * Missing files read as zero, so a container that just exited gives zeros
 * rather than an error.
 */
export async function cgroupStats(cgroupsPath: string): Promise<CgroupStats> {
  const p = cgroupPaths(cgroupsPath);
  const [systemUsageNs, ncpu] = await Promise.all([systemCpuUsageNs(), onlineCpus()]);
  const host = totalmem();
  let cpuUsageNs: number;
  let memoryUsage: number;
  let memoryLimit: number;
  let pidsCurrent: number;
  let pidsLimit: number;
  let io: { read: number; write: number };
  if (p.unified) {
    const d = p.unified;
    const cpu = keyValues(await readText(join(d, 'cpu.stat')));
    cpuUsageNs = (cpu.get('usage_usec') ?? 0) * 1000;
    const mstat = keyValues(await readText(join(d, 'memory.stat')));
    const current = (await readNumber(join(d, 'memory.current'))) ?? 0;
    const inactive = mstat.get('inactive_file') ?? 0;
    memoryUsage = inactive < current ? current - inactive : current;
    const max = await readNumber(join(d, 'memory.max'));
    memoryLimit = max === undefined || max >= UNLIMITED ? host : Math.min(max, host);
    pidsCurrent = (await readNumber(join(d, 'pids.current'))) ?? 0;
    pidsLimit = (await readNumber(join(d, 'pids.max'))) ?? 0;
    io = ioStatV2(await readText(join(d, 'io.stat')));
  } else {
    const v = p.v1;
    cpuUsageNs = (await readNumber(join(v.cpuacct, 'cpuacct.usage'))) ?? 0;
    const mstat = keyValues(await readText(join(v.memory, 'memory.stat')));
    const usage = (await readNumber(join(v.memory, 'memory.usage_in_bytes'))) ?? 0;
    const inactive = mstat.get('total_inactive_file') ?? 0;
    memoryUsage = inactive < usage ? usage - inactive : usage;
    // The hierarchical limit also counts limits set on parents.
    const limit = mstat.get('hierarchical_memory_limit') ?? (await readNumber(join(v.memory, 'memory.limit_in_bytes')));
    memoryLimit = limit === undefined || limit >= UNLIMITED ? host : Math.min(limit, host);
    pidsCurrent = (await readNumber(join(v.pids, 'pids.current'))) ?? 0;
    pidsLimit = (await readNumber(join(v.pids, 'pids.max'))) ?? 0;
    io = blkioV1(await readText(join(v.blkio, 'blkio.throttle.io_service_bytes_recursive')));
  }
  return {
    cpu: { usageNs: cpuUsageNs, systemUsageNs, onlineCpus: ncpu },
    memory: { usage: memoryUsage, limit: memoryLimit, oomKills: await oomKillCount(p) },
    pids: { current: pidsCurrent, limit: pidsLimit },
    blkio: { readBytes: io.read, writeBytes: io.write },
    freezer: await freezerState(p),
    readAt: Date.now(),
  };
}

/**
 * Docker's CPU percentage between two samples: the container's share of the
 * host's CPU time over the interval, scaled by the number of CPUs (so one
 * busy core on a 2-CPU host reads 100%). 0 when either delta is not positive.
 */
export function cpuPercent(
  prev: Pick<CgroupStats['cpu'], 'usageNs' | 'systemUsageNs'>,
  cur: Pick<CgroupStats['cpu'], 'usageNs' | 'systemUsageNs'>,
  ncpu: number,
): number {
  const cpuDelta = cur.usageNs - prev.usageNs;
  const sysDelta = cur.systemUsageNs - prev.systemUsageNs;
  if (cpuDelta <= 0 || sysDelta <= 0) return 0;
  return (cpuDelta / sysDelta) * ncpu * 100;
}
