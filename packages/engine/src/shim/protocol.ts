// The shim's files and wire formats, shared by the shim process (main.ts) and
// the daemon side (client.ts). No @shoal/api here: main.ts imports this file and
// must not pull in gRPC.
import type { LogConfig } from '../logs/log-config.js';

/** Files in the shim's state directory. */
export const SHIM_FILES = {
  /** Written by the daemon before the shim starts: a `ShimConfig`. */
  config: 'shim.json',
  /** The shim's own pid, written by the shim at start. */
  pid: 'shim.pid',
  /** The container's init pid, written by `runc run --pid-file`. */
  initPid: 'init.pid',
  /** runc's JSON log (start errors come from here). */
  runcLog: 'runc.log',
  /** The attach socket. */
  socket: 'shim.sock',
  /** The exit status, written atomically once the container has exited. */
  exit: 'exit.json',
  /** The shim's own stdout/stderr (diagnostics only). */
  shimLog: 'shim.log',
} as const;

/** What the shim is told to run; `<dir>/shim.json`. */
export interface ShimConfig {
  id: string;
  /** OCI bundle directory (holds config.json). */
  bundle: string;
  /** runc binary. */
  runtime: string;
  /** runc's `--root` state directory. */
  runtimeRoot: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  log: LogConfig;
  /**
   * Memory cgroup directories whose OOM-kill counter decides `oomKilled`
   * (v1 `memory.oom_control`, v2 `memory.events`, line `oom_kill N`).
   */
  oomCgroupDirs: string[];
  /**
   * Hold the container until the first attach client has sent its header, so
   * a foreground `run` sees output from the first byte. Milliseconds to wait at
   * most; 0 or unset = start at once.
   */
  waitAttachMs?: number;
}

/**
 * The one line the daemon writes on a standby shim's fd 3 to put it to work:
 * the state directory, whose `shim.json` the daemon has written already.
 */
export interface ShimAssignment {
  dir: string;
}

/** The argument that starts a shim in standby (it waits on fd 3 for a `ShimAssignment`). */
export const STANDBY_ARG = '--standby';

/** How a container ended. */
export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  /** RFC 3339 with nanoseconds, UTC. */
  exitedAt: string;
  /** Set when the exit was not the container's own (start failure, shim death). */
  error?: string;
}

/**
 * Lines the shim writes on fd 3, in order: `standby` (only when started with
 * `--standby`, before it has an assignment), `listening`, then one start report.
 */
export type ShimReport =
  | { standby: true }
  | { listening: true }
  | { started: true; pid: number }
  | { started: false; error: string; exitCode: number };

/** What an attach client asks for, as the first line it sends. */
export interface AttachRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Frame types on the attach socket: [1 byte type][4 bytes BE length][payload]. */
export const FrameType = {
  Stdin: 0,
  Stdout: 1,
  Stderr: 2,
  Exit: 3,
  CloseStdin: 4,
  Resize: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_HEADER = 5;

/** Encodes one frame. */
export function encodeFrame(type: FrameType, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  out[0] = type;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, FRAME_HEADER);
  return out;
}

/** Incremental frame decoder: feed chunks, get whole frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= FRAME_HEADER) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < FRAME_HEADER + len) break;
      frames.push({ type: this.buf[0] ?? 0, payload: this.buf.subarray(FRAME_HEADER, FRAME_HEADER + len) });
      this.buf = this.buf.subarray(FRAME_HEADER + len);
    }
    return frames;
  }
}

/**
 * Docker's exit code for a container that could not start, from runc's
 * message: 127 not found, 126 not executable, else 125.
 */
export function startFailureExitCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|not executable|exec format error/i.test(message)) return 126;
  return 125;
}
