// Standby shims: Node's own boot (50-80 ms here) is most of what a shim adds
// to a container start, so the pool boots shims ahead of time. A standby shim
// has loaded everything and waits, blocked in read(2) on its fd 3, for the
// one line that names its state dir; from then on it is an ordinary shim
// (see main.ts). Closing its fd 3 instead, which the kernel also does when
// this process dies, makes it exit having touched nothing.
import { STANDBY_ARG } from './protocol.js';
import {
  launchShim,
  spawnShimProcess,
  writeShimConfig,
  type ShimProcess,
  type ShimStarted,
  type ShimStartOptions,
} from './client.js';

export interface ShimPoolOptions {
  /** How many standby shims to keep booted; default 1. 0 keeps none (every start spawns a shim). */
  size?: number;
  /** Node binary running the shims; default this process's. */
  nodePath?: string;
  /**
   * File for the standby shims' stdout and stderr until they are assigned
   * (afterwards a shim writes to `<dir>/shim.log`); default /dev/null.
   */
  logPath?: string;
  /** How long a standby may take to boot before it is killed; default 10 s. */
  bootTimeoutMs?: number;
}

/** After a standby failed to boot, wait this long (doubling per failure) before booting another. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** How long close() waits for standbys to exit before killing them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A pool of pre-booted shims. `start` has startShim's contract and result;
 * it takes a standby when one is ready (else it spawns a shim as startShim
 * does) and boots a replacement in the background afterwards.
 *
 * Booting begins in the constructor. Standby shims are children of this
 * process in their own sessions; once booted they do not keep its event loop
 * alive.
 */
export class ShimPool {
  private readonly size: number;
  private readonly bootTimeoutMs: number;
  /** Booted, waiting for an assignment. */
  private readonly ready: ShimProcess[] = [];
  /** Booting or ready: everything close() must end. */
  private readonly unassigned = new Set<ShimProcess>();
  private booting = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly changed = new Set<() => void>();

  constructor(private readonly opts: ShimPoolOptions = {}) {
    this.size = Math.max(0, Math.floor(opts.size ?? 1));
    this.bootTimeoutMs = opts.bootTimeoutMs ?? 10_000;
    this.fill();
  }

  /** Pids of the standby shims that are booted and waiting (diagnostics, tests). */
  get standbyPids(): number[] {
    return this.ready.map((p) => p.pid);
  }

  /**
   * Starts a shim for one container and waits until the container process has
   * started, exactly as `startShim(opts, signal)`. (`opts.nodePath` matters
   * only when no standby was ready; standbys run the pool's `nodePath`.)
   *
   * Throws `ContainerStartError` (FailedPrecondition, with `exitCode`) when the
   * container could not start, Internal when the shim itself failed, and the
   * signal's reason when aborted (the shim's process group is then killed; the
   * caller still owns `runc delete --force`).
   */
  async start(opts: ShimStartOptions, signal?: AbortSignal): Promise<ShimStarted> {
    signal?.throwIfAborted();
    await writeShimConfig(opts);
    const standby = this.take();
    try {
      return await launchShim(opts, signal, standby);
    } finally {
      // Booting after the start, not during it: a Node boot competes for the CPU.
      this.fill();
    }
  }

  /**
   * Waits until the pool holds `size` booted standbys (at once for size 0).
   * Throws the signal's reason when aborted; returns early when the pool is closed.
   */
  async warm(signal?: AbortSignal): Promise<void> {
    while (!this.closed && this.ready.length < this.size) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.changed.delete(wake);
          reject(signal?.reason as Error);
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.changed.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /**
   * Ends the standby shims (by closing their fd 3) and stops booting new ones;
   * `start` still works afterwards, spawning a shim each time. Resolves when
   * the standbys have exited; one that has not within 2 s is killed. Never throws.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.notify();
    const procs = [...this.unassigned];
    this.ready.length = 0;
    await Promise.all(procs.map((p) => this.end(p)));
  }

  private notify(): void {
    for (const wake of [...this.changed]) wake();
    this.changed.clear();
  }

  private take(): ShimProcess | undefined {
    for (let p = this.ready.shift(); p; p = this.ready.shift()) {
      this.unassigned.delete(p);
      if (p.child.exitCode === null && p.child.signalCode === null) return p;
    }
    return undefined;
  }

  private fill(): void {
    while (!this.closed && this.retryTimer === undefined && this.ready.length + this.booting < this.size) {
      this.booting++;
      void this.boot().finally(() => {
        this.booting--;
        this.notify();
      });
    }
  }

  private async boot(): Promise<void> {
    let proc: ShimProcess;
    try {
      proc = await spawnShimProcess({
        args: [STANDBY_ARG],
        // Not the daemon's directory: a standby must not pin a mount, and
        // isShimAlive relies on no unassigned shim working in a container dir.
        cwd: '/',
        ...(this.opts.logPath !== undefined ? { logPath: this.opts.logPath } : {}),
        ...(this.opts.nodePath ? { nodePath: this.opts.nodePath } : {}),
      });
    } catch {
      this.failed();
      return;
    }
    this.unassigned.add(proc);
    const timer = setTimeout(() => kill(proc), this.bootTimeoutMs);
    timer.unref();
    const first = await Promise.race([proc.reports.next(), proc.failed]).catch(() => undefined);
    clearTimeout(timer);
    if (first?.done !== false || !isStandbyReport(first.value)) {
      await this.end(proc);
      if (!this.closed) this.failed();
      return;
    }
    if (this.closed) {
      await this.end(proc);
      return;
    }
    this.failures = 0;
    // Booting kept this process alive (a boot ends); waiting must not.
    proc.child.unref();
    proc.pipe.unref();
    this.ready.push(proc);
    // Killed while waiting (by hand, OOM killer): drop it and boot another.
    proc.child.once('exit', () => {
      const i = this.ready.indexOf(proc);
      if (i < 0) return;
      this.ready.splice(i, 1);
      this.unassigned.delete(proc);
      this.fill();
    });
  }

  /** A standby failed to boot: try again later, not in a tight loop. */
  private failed(): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
    this.retryTimer.unref();
  }

  /** Closes a standby's fd 3 and waits for it to exit (killing it after a grace period). */
  private async end(proc: ShimProcess): Promise<void> {
    this.unassigned.delete(proc);
    proc.pipe.destroy();
    const { child } = proc;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        kill(proc);
        resolve();
      }, CLOSE_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function isStandbyReport(line: string): boolean {
  try {
    return (JSON.parse(line) as Partial<Record<'standby', unknown>>).standby === true;
  } catch {
    return false;
  }
}

function kill(proc: ShimProcess): void {
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
