import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { failedPrecondition } from '@shoal/api';

/** True when a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data root's lock file (O_EXCL with our pid). A lock left by a
 * process that no longer exists (kill -9, reboot) is taken over. Throws
 * FailedPrecondition when another live daemon holds it.
 */
export async function acquireLock(path: string, what: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
      await fh.close();
      return async () => {
        const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (owner === process.pid) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner > 0 && owner !== process.pid && processAlive(owner) && (await isShoald(owner))) {
        throw failedPrecondition(
          `another shoald (pid ${owner}) is already using ${what}; stop it first or give this one its own --data-root`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw failedPrecondition(`could not take the lock ${path}; remove it if no shoald is running`);
}

async function isShoald(pid: number): Promise<boolean> {
  try {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('shoald') || cmd.includes('daemon/dist/main.js');
  } catch {
    return false;
  }
}

/** Writes the pid file; returns its remover. */
export async function writePidFile(path: string): Promise<() => Promise<void>> {
  await writeFile(path, `${process.pid}\n`);
  return async () => {
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (owner === process.pid) await rm(path, { force: true });
  };
}
