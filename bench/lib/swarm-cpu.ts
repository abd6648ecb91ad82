// CPU time of the daemons the swarm bench drives (user + system, from
// /proc/<pid>/stat), to tell a daemon that is busy from one that waits.
import { readFile } from 'node:fs/promises';

/** Kernel clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux the bench runs on). */
const USER_HZ = 100;

/** ms of CPU (user + system) `pid` has used, or undefined when the process is gone. */
export async function cpuMs(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / USER_HZ;
}

/** Total CPU ms of the processes still running among `pids`. */
export async function totalCpuMs(pids: readonly (number | undefined)[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) if (pid !== undefined) sum += (await cpuMs(pid)) ?? 0;
  return sum;
}
