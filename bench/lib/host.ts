// Small host helpers shared by the bench's daemons and bundles: undoing mounts
// and cgroups they leave behind, and reading a process's resident memory.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Lazily unmounts everything mounted at or under `dir`, deepest first. Never throws. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
}

/**
 * Removes the cgroup `name` (relative to each hierarchy root) and everything below it, in
 * every mounted hierarchy: cgroup v2, each v1 controller, and a hybrid's unified mount.
 * Never throws; a cgroup that still has processes simply stays.
 */
export async function removeCgroupTree(name: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const roots = [base, ...(await readdir(base).catch(() => [] as string[])).map((c) => join(base, c))];
  for (const root of roots) await rmdirDeep(join(root, name));
}

async function rmdirDeep(dir: string): Promise<void> {
  if (!(await isDir(dir))) return;
  for (const child of await readdir(dir).catch(() => [] as string[])) {
    const c = join(dir, child);
    if (await isDir(c)) await rmdirDeep(c);
  }
  await rmdir(dir).catch(() => undefined);
}

function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** The resident set size of `pid` in KiB (VmRSS), or undefined when the process is gone. */
export async function rssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The direct children of `pid` (from /proc/<pid>/task/<tid>/children). */
export async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const t of tasks) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    for (const p of text.trim().split(/\s+/)) if (p) out.push(Number(p));
  }
  return out;
}

/** Sends `sig` to `pid`, ignoring a process that is already gone. */
export function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Whether `pid` still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
