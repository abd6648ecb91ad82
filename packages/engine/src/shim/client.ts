// The daemon side of the shim: start one, attach to it, wait for its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readlink, realpath, rename, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ShoalError, failedPrecondition, internal, sleep } from '@shoal/api';
import type { LogConfig } from '../logs/log-config.js';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  SHIM_FILES,
  STANDBY_ARG,
  type AttachRequest,
  type ExitStatus,
  type ShimAssignment,
  type ShimConfig,
  type ShimReport,
} from './protocol.js';

export type { AttachRequest, ExitStatus } from './protocol.js';

const SHIM_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface ShimStartOptions {
  /** The shim's state directory (created if missing): shim.json, sockets, pid and exit files. */
  dir: string;
  /** Container id, as runc knows it. */
  id: string;
  /** OCI bundle directory. */
  bundle: string;
  /** runc binary; default `runc`. */
  runtime?: string;
  /** runc `--root`. */
  runtimeRoot: string;
  tty?: boolean;
  openStdin?: boolean;
  stdinOnce?: boolean;
  /** Default: no log. */
  log?: LogConfig;
  /** Memory cgroup directories to read the OOM-kill counter from after the exit. */
  oomCgroupDirs?: string[];
  /**
   * Attach before the container starts, so no output is missed (foreground
   * `run`, `start -a`). The attachment is returned with the start result.
   */
  attach?: AttachRequest;
  /** Node binary running the shim; default this process's. */
  nodePath?: string;
}

export interface ShimStarted {
  /** The container's init pid. */
  pid: number;
  /** The shim's pid. */
  shimPid: number;
  /** Present when `attach` was asked for. */
  attachment?: ShimAttachment;
}

/**
 * The container process could not start. `exitCode` follows docker: 127 the
 * executable was not found, 126 it is not executable, 125 anything else.
 */
export class ContainerStartError extends ShoalError {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(ErrorCode.FailedPrecondition, message);
    this.name = 'ContainerStartError';
    this.exitCode = exitCode;
  }
}

/** One frame from an attached shim. */
export type AttachFrame =
  | { type: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'exit'; status: ExitStatus };

/** A live attach connection. Iterate it for output; it ends after the exit frame or on close(). */
export interface ShimAttachment extends AsyncIterable<AttachFrame> {
  /** Sends bytes to the container's stdin (ignored by the shim unless attached with stdin). */
  writeStdin(data: Buffer | string): void;
  /** Sends EOF to the container's stdin. */
  closeStdin(): void;
  /** Asks for a terminal size (the shim accepts and currently ignores it). */
  resize(rows: number, cols: number): void;
  /** Drops the connection; the container keeps running. */
  close(): void;
}

function lines(sock: NodeJS.ReadableStream): AsyncGenerator<string> {
  return (async function* () {
    let buf = '';
    for await (const chunk of sock) {
      buf += typeof chunk === 'string' ? chunk : (chunk).toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        yield buf.slice(0, nl);
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) yield buf;
  })();
}

// Not util/fs writeFileAtomic: shim.json sits on the container start path and
// lives in the exec root, which does not outlive a reboot; no fsync is needed.
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
}

/**
 * Starts a shim for one container and waits until the container process has
 * started. The shim runs in its own session and outlives this process.
 * (`ShimPool.start` does the same on a shim booted ahead of time.)
 *
 * Throws `ContainerStartError` (FailedPrecondition, with `exitCode`) when the
 * container could not start, Internal when the shim itself failed, and the
 * signal's reason when aborted (the shim's process group is then killed; the
 * caller still owns `runc delete --force`).
 */
export async function startShim(opts: ShimStartOptions, signal?: AbortSignal): Promise<ShimStarted> {
  signal?.throwIfAborted();
  await writeShimConfig(opts);
  return launchShim(opts, signal);
}

/**
 * A shim process this side spawned, with the daemon's end of its fd 3.
 * Shared by startShim and ShimPool; not for other callers.
 */
export interface ShimProcess {
  child: ChildProcess;
  pid: number;
  pipe: Socket;
  /**
   * The report lines from `pipe`. Read with next() only: leaving a for-await
   * early would destroy the pipe, and a standby's pipe must outlive the read
   * of its first line.
   */
  reports: AsyncIterator<string>;
  /** Rejects (Internal) if the process could not be spawned after all; never resolves. */
  failed: Promise<never>;
}

export interface SpawnShimOptions {
  /** Arguments after main.js: `--dir <dir>` or `--standby`. */
  args: string[];
  cwd: string;
  /** File for the shim's stdout and stderr; unset = /dev/null. */
  logPath?: string;
  nodePath?: string;
}

/**
 * Spawns a shim process detached (its own session and process group, so the
 * daemon's death or its terminal's signals do not reach it), stdout and stderr
 * to `logPath`, and fd 3 a socketpair for the reports (and a standby's
 * assignment). Shared by startShim and ShimPool.
 *
 * Throws Internal when no process could be created.
 */
export async function spawnShimProcess(o: SpawnShimOptions): Promise<ShimProcess> {
  const logFd = o.logPath === undefined ? 'ignore' : openSync(o.logPath, 'a', 0o640);
  let child: ChildProcess;
  try {
    child = spawn(o.nodePath ?? process.execPath, [SHIM_MAIN, ...o.args], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'pipe'],
      cwd: o.cwd,
    });
  } finally {
    if (typeof logFd === 'number') closeSync(logFd);
  }
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(internal(`Cannot start the container shim: ${err.message}.`, { cause: err })));
  });
  failed.catch(() => undefined);
  const pipe = child.stdio[3] as Socket | null;
  if (child.pid === undefined || !pipe) {
    await failed;
    throw internal('Cannot start the container shim: no process was created.');
  }
  // A standby that dies makes writes to it fail; its reader sees the end.
  pipe.on('error', () => undefined);
  return { child, pid: child.pid, pipe, reports: lines(pipe), failed };
}

/** Creates the state directory and writes `shim.json` for `opts`. Shared by startShim and ShimPool. */
export async function writeShimConfig(opts: ShimStartOptions): Promise<void> {
  await mkdir(opts.dir, { recursive: true, mode: 0o711 });
  const cfg: ShimConfig = {
    id: opts.id,
    bundle: opts.bundle,
    runtime: opts.runtime ?? 'runc',
    runtimeRoot: opts.runtimeRoot,
    tty: opts.tty ?? false,
    openStdin: opts.openStdin ?? false,
    stdinOnce: opts.stdinOnce ?? false,
    log: opts.log ?? { driver: 'none' },
    oomCgroupDirs: opts.oomCgroupDirs ?? [],
    waitAttachMs: opts.attach ? 10_000 : 0,
  };
  await writeJsonAtomic(join(opts.dir, SHIM_FILES.config), cfg);
}

/** A standby shim ended before taking its assignment: nothing ran, so a fresh shim may take over. */
class StandbyLost extends Error {}

/**
 * The second half of startShim, once `shim.json` is written: hands the
 * container to `standby` (a booted `--standby` shim, see ShimPool) or, without
 * one or when it turns out to have died, to a freshly spawned shim, and waits
 * for the start report. Same errors as startShim.
 */
export async function launchShim(opts: ShimStartOptions, signal?: AbortSignal, standby?: ShimProcess): Promise<ShimStarted> {
  if (standby) {
    try {
      if (signal?.aborted) {
        standby.pipe.destroy(); // it exits, having done nothing
        throw signal.reason;
      }
      const assignment: ShimAssignment = { dir: resolve(opts.dir) };
      standby.pipe.ref();
      standby.pipe.write(`${JSON.stringify(assignment)}\n`);
      return await awaitStartReport(standby, opts, signal, true);
    } catch (err) {
      if (!(err instanceof StandbyLost)) throw err;
    }
  }
  const proc = await spawnShimProcess({
    args: ['--dir', opts.dir],
    cwd: opts.dir,
    logPath: join(opts.dir, SHIM_FILES.shimLog),
    ...(opts.nodePath ? { nodePath: opts.nodePath } : {}),
  });
  return awaitStartReport(proc, opts, signal, false);
}

async function awaitStartReport(
  proc: ShimProcess,
  opts: ShimStartOptions,
  signal: AbortSignal | undefined,
  standby: boolean,
): Promise<ShimStarted> {
  const { child, pid: shimPid, pipe } = proc;
  const onAbort = (): void => {
    try {
      process.kill(-shimPid, 'SIGKILL');
    } catch {
      // already gone
    }
    pipe.destroy();
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const next = (): Promise<string | undefined> =>
    proc.reports.next().then(
      (r) => (r.done ? undefined : r.value),
      () => undefined,
    );
  let attachment: ShimAttachment | undefined;
  try {
    const work = (async (): Promise<ShimStarted> => {
      let listening = false;
      for (let line = await next(); line !== undefined; line = await next()) {
        const r = JSON.parse(line) as ShimReport;
        if ('standby' in r) continue;
        if ('listening' in r) {
          listening = true;
          if (opts.attach) attachment = await attachShim(opts.dir, opts.attach, signal);
          continue;
        }
        if (r.started) return { pid: r.pid, shimPid, ...(attachment ? { attachment } : {}) };
        throw new ContainerStartError(`failed to create task for container: ${r.error}: unknown`, r.exitCode);
      }
      signal?.throwIfAborted();
      // Not listening yet means runc never ran: the shim died before or while taking its assignment.
      if (standby && !listening) throw new StandbyLost();
      const log = await readFile(join(opts.dir, SHIM_FILES.shimLog), 'utf8').catch(() => '');
      const last = log.trim().split('\n').slice(-3).join(' ').trim();
      throw internal(`The container shim exited before starting the container${last ? `: ${last}` : ''}; see ${join(opts.dir, SHIM_FILES.shimLog)}.`);
    })();
    return await Promise.race([work, proc.failed]);
  } catch (err) {
    attachment?.close();
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    pipe.destroy();
    child.unref();
  }
}

/**
 * Connects to a shim's attach socket. Output frames arrive only for the
 * streams asked for; the exit frame always arrives (at once when the container
 * has already exited).
 *
 * Throws FailedPrecondition when no shim is listening in `dir` (not running),
 * and the signal's reason when aborted.
 */
export async function attachShim(dir: string, req: AttachRequest, signal?: AbortSignal): Promise<ShimAttachment> {
  const sock = await connectShim(dir, signal);
  sock.write(`${JSON.stringify({ stdin: req.stdin, stdout: req.stdout, stderr: req.stderr })}\n`);
  const onAbort = (): void => {
    sock.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  sock.once('close', () => signal?.removeEventListener('abort', onAbort));
  const send = (type: FrameType, payload: Buffer | string): void => {
    if (!sock.destroyed && sock.writable) sock.write(encodeFrame(type, payload));
  };
  return {
    writeStdin: (data) => send(FrameType.Stdin, data),
    closeStdin: () => send(FrameType.CloseStdin, ''),
    resize: (rows, cols) => send(FrameType.Resize, JSON.stringify({ rows, cols })),
    close: () => {
      sock.destroy();
    },
    [Symbol.asyncIterator]: async function* (): AsyncGenerator<AttachFrame> {
      const decoder = new FrameDecoder();
      try {
        for await (const chunk of sock) {
          for (const f of decoder.push(chunk as Buffer)) {
            if (f.type === FrameType.Stdout) yield { type: 'stdout', data: Buffer.from(f.payload) };
            else if (f.type === FrameType.Stderr) yield { type: 'stderr', data: Buffer.from(f.payload) };
            else if (f.type === FrameType.Exit) {
              yield { type: 'exit', status: JSON.parse(f.payload.toString('utf8')) as ExitStatus };
              return;
            }
          }
        }
      } catch (err) {
        // A destroyed socket (close(), abort, shim killed) just ends the stream.
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && !sock.destroyed) throw err;
      } finally {
        sock.destroy();
      }
    },
  };
}

function connectShim(dir: string, signal?: AbortSignal): Promise<Socket> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    // Reach the socket through an open handle on its directory: the absolute
    // path may be longer than sun_path's 108 bytes (deep exec roots, 64-hex ids).
    let dirFd: number | undefined;
    try {
      dirFd = openSync(dir, 'r');
    } catch (err) {
      reject(failedPrecondition(`No container shim is listening in ${dir} (${(err as Error).message}); the container is not running.`, { cause: err }));
      return;
    }
    const fd = dirFd;
    let dirClosed = false;
    const closeDir = (): void => {
      if (dirClosed) return;
      dirClosed = true;
      closeSync(fd);
    };
    const sock = connect({ path: `/proc/self/fd/${fd}/${SHIM_FILES.socket}` });
    sock.once('connect', closeDir);
    sock.once('error', closeDir);
    sock.once('close', closeDir);
    const onAbort = (): void => {
      sock.destroy();
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      sock.removeAllListeners('error');
      sock.on('error', () => undefined);
      resolve(sock);
    });
    sock.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(failedPrecondition(`No container shim is listening in ${dir} (${err.message}); the container is not running.`, { cause: err }));
    });
  });
}

/** Reads `<dir>/exit.json`; undefined when the container has not exited (or never ran). Throws on unreadable files. */
export async function readExitFile(dir: string): Promise<ExitStatus | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, SHIM_FILES.exit), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as ExitStatus;
}

/**
 * Whether the shim recorded in `<dir>/shim.pid` is still running. Never throws.
 *
 * A pid in shim.pid may have been reused by another program since that shim
 * died, so the process must also prove it is this dir's shim: a shim started
 * with `--dir` names the dir on its command line; one that began as a standby
 * (ShimPool) cannot, but it has `--standby` on its command line and made the
 * dir its working directory before writing shim.pid. An unassigned standby
 * works in `/`, and an assigned one in its own container's dir, so a reused
 * pid can only pass as another shim of this very dir.
 */
export async function isShimAlive(dir: string): Promise<boolean> {
  try {
    const pid = Number.parseInt((await readFile(join(dir, SHIM_FILES.pid), 'utf8')).trim(), 10);
    if (!(pid > 0)) return false;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') return false;
    const argv = cmdline.split('\0');
    if (argv.includes(dir)) return true;
    // The kernel shows the cwd with symlinks resolved (/var/run is /run on Debian).
    return argv.includes(STANDBY_ARG) && (await readlink(`/proc/${pid}/cwd`)) === (await realpath(dir));
  } catch {
    return false;
  }
}

/**
 * Waits until the container behind the shim in `dir` has exited and returns
 * how. When the shim is gone without an exit file it died (killed, crashed):
 * the result is exit code 255 with error `shim died`.
 *
 * Throws the signal's reason when aborted.
 */
export async function waitShimExit(dir: string, signal?: AbortSignal): Promise<ExitStatus> {
  for (;;) {
    signal?.throwIfAborted();
    let attachment: ShimAttachment | undefined;
    try {
      attachment = await attachShim(dir, { stdin: false, stdout: false, stderr: false }, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
    }
    if (attachment) {
      for await (const f of attachment) {
        if (f.type === 'exit') return f.status;
      }
      signal?.throwIfAborted();
    }
    const st = await readExitFile(dir);
    if (st) return st;
    if (!(await isShimAlive(dir))) {
      // The shim writes exit.json before it goes; look once more in case it just did.
      const again = await readExitFile(dir);
      return again ?? { exitCode: 255, oomKilled: false, exitedAt: new Date().toISOString(), error: 'shim died' };
    }
    // Alive but not (yet or any more) listening: starting up or finishing.
    await sleep(50, signal);
  }
}
