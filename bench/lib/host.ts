// Reading the memory of the daemons the bench measures. (Undoing their mounts
// and cgroups is the e2e harness's job: see e2e-harness.ts.)
import { readFile } from 'node:fs/promises';

/** The resident set size of `pid` in KiB (VmRSS), or undefined when the process is gone. */
export async function rssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The pid in a pid file, or undefined when the file is missing or holds no pid. */
export async function readPid(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** How many of `pids` are still running, and their total RSS in KiB. */
export async function totalRss(pids: readonly (number | undefined)[]): Promise<{ count: number; kib: number }> {
  let count = 0;
  let kib = 0;
  for (const pid of pids) {
    const rss = pid === undefined ? undefined : await rssKiB(pid);
    if (rss === undefined) continue;
    count += 1;
    kib += rss;
  }
  return { count, kib };
}
