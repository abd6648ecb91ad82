// One interactive attachment (attach, run, start -a, exec): forwards stdin,
// resizes and output frames, puts the local terminal in raw mode for a TTY
// (always restored) and ends the session on the detach keys.
import type { OutputFrame__Output, TerminalSize } from '@shoal/api';
import { UsageError } from '../cli-error.js';
import type { CliIO } from '../io.js';

/** The client side of a bidi stream we write requests to and read frames from. */
export interface FrameCall<Req> {
  write(req: Req): boolean;
  end(): void;
  cancel(): void;
  [Symbol.asyncIterator](): AsyncIterator<unknown>;
}

export interface SessionOptions<Req> {
  io: CliIO;
  /** The container was created with a TTY: raw mode and resizes. */
  tty: boolean;
  /** Forward our stdin. */
  stdin: boolean;
  /** Byte sequence that detaches (default ctrl-p ctrl-q). */
  detachKeys: number[];
  request: {
    stdin(data: Buffer): Req;
    closeStdin(): Req;
    resize(size: TerminalSize): Req;
  };
}

export interface SessionResult {
  /** The process's exit code, when its EXIT frame arrived. */
  exitCode?: number;
  /** The user pressed the detach keys. */
  detached: boolean;
}

/**
 * Parses docker's --detach-keys ("ctrl-p,ctrl-q", "a,ctrl-@").
 * Throws UsageError for an unknown key.
 */
export function parseDetachKeys(text: string | undefined): number[] {
  if (text === undefined || text === '') return [0x10, 0x11];
  return text.split(',').map((k) => {
    const key = k.trim();
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-(.)$/i.exec(key);
    if (m) {
      const c = m[1]!;
      if (/[a-z]/i.test(c)) return c.toLowerCase().charCodeAt(0) - 0x60;
      const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
      if (c in special) return special[c]!;
    }
    throw new UsageError(`Invalid detach keys (${text}) provided: use a comma-separated list such as ctrl-p,ctrl-q`);
  });
}

/** Matches the detach sequence across chunks; returns what to forward and whether it matched. */
export class DetachMatcher {
  private matched = 0;
  constructor(private readonly keys: number[]) {}

  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.keys.length > 0 && b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      // A partial match that did not complete is forwarded as typed.
      out.push(...this.keys.slice(0, this.matched));
      this.matched = 0;
      if (this.keys.length > 0 && b === this.keys[0]) this.matched = 1;
      else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/**
 * Runs the session until the EXIT frame, the end of the stream, or a detach.
 * Throws the stream's error (a gRPC error; callers convert it).
 */
export async function runSession<Req>(call: FrameCall<Req>, options: SessionOptions<Req>): Promise<SessionResult> {
  const { io, tty } = options;
  const stdin = io.stdin;
  const raw = tty && options.stdin && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  let detached = false;
  const matcher = new DetachMatcher(options.detachKeys);
  const onData = (d: Buffer | string): void => {
    const buf = typeof d === 'string' ? Buffer.from(d) : d;
    const { forward, detach } = tty ? matcher.feed(buf) : { forward: buf, detach: false };
    if (forward.length > 0) call.write(options.request.stdin(forward));
    if (detach) {
      detached = true;
      call.cancel();
    }
  };
  const onEnd = (): void => {
    call.write(options.request.closeStdin());
  };
  const onResize = (): void => {
    const { rows, columns } = io.stdout;
    if (rows && columns) call.write(options.request.resize({ rows, cols: columns }));
  };
  if (raw) stdin.setRawMode!(true);
  try {
    if (tty && io.stdout.isTTY) {
      onResize();
      io.stdout.on('resize', onResize);
    }
    if (options.stdin) {
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    }
    try {
      for await (const f of call as AsyncIterable<OutputFrame__Output>) {
        if (f.stream === 'STDOUT') io.stdout.write(f.data);
        else if (f.stream === 'STDERR') io.stderr.write(f.data);
        else if (f.stream === 'EXIT') return { exitCode: f.exit_code, detached: false };
      }
    } catch (err) {
      if (detached) return { detached: true };
      throw err;
    }
    return { detached };
  } finally {
    if (raw) stdin.setRawMode!(false);
    io.stdout.off('resize', onResize);
    if (options.stdin) {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    }
    try {
      call.end();
    } catch {
      // already closed
    }
  }
}
