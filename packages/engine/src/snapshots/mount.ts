import { readFile, realpath } from 'node:fs/promises';
import { runCommand } from '../archive/run-command.js';

/** One mount to perform, in the shape of an OCI runtime spec mount. */
export interface Mount {
  /** `overlay` or `bind`. */
  type: string;
  source: string;
  options: string[];
}

/**
 * Mounts each of `mounts` on `target`, in order, with mount(8). Overlay
 * options carry absolute lowerdir paths, so a very deep chain can exceed the
 * kernel's one-page limit on mount data (~4 KiB, around 60 layers here);
 * containerd works around that with relative paths and a chdir.
 *
 * @throws Internal with mount's message when a mount fails; the signal's reason on abort.
 */
export async function mountAt(mounts: Mount[], target: string, signal?: AbortSignal): Promise<void> {
  for (const m of mounts) {
    const args: string[] = [];
    if (m.type !== 'bind') args.push('-t', m.type);
    if (m.options.length > 0) args.push('-o', m.options.join(','));
    args.push(m.source, target);
    await runCommand('mount', args, { signal });
  }
}

/**
 * Unmounts `target` (lazily if it is busy); a target that is not mounted is fine.
 *
 * @throws Internal when umount fails for another reason.
 */
export async function unmount(target: string, signal?: AbortSignal): Promise<void> {
  // Asking the kernel is ~0.2 ms; running umount(8) on a target that is not
  // mounted costs ~12 ms on the container start path.
  if (!(await isMountPoint(target))) return;
  try {
    await runCommand('umount', [target], { signal });
  } catch (err) {
    const msg = (err as Error).message;
    if (/not mounted|no mount point|mountpoint not found|No such file/i.test(msg)) return;
    if (/busy/i.test(msg)) {
      await runCommand('umount', ['-l', target], { signal });
      return;
    }
    throw err;
  }
}

/**
 * Whether `target` (resolved through symlinks) is a mount point now, per
 * /proc/self/mountinfo. A target that does not exist is not mounted.
 */
export async function isMountPoint(target: string): Promise<boolean> {
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    return false;
  }
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    // Field 5 is the mount point, with spaces and the like octal-escaped.
    const mountPoint = line.split(' ')[4];
    if (mountPoint !== undefined && unescapeMountinfo(mountPoint) === real) return true;
  }
  return false;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
