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
