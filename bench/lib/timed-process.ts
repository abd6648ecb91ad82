// Runs one command and measures its wall time from spawn to exit, the way a
// person at a shell would feel it. Output is captured, not shown, so a slow
// terminal never becomes part of the figure.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface TimedRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface TimedRun {
  ms: number;
  /** Wall-clock epoch ms at spawn and at exit, to line the run up with a daemon's log. */
  startedAt: number;
  endedAt: number;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Spawns `cmd args` and resolves when it has exited and closed its output.
 * Never rejects for a non-zero exit (the caller decides); rejects when the command
 * cannot be spawned or `signal` aborts.
 */
export function timedRun(cmd: string, args: readonly string[], o: TimedRunOptions = {}): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const t0 = performance.now();
    const startedAt = Date.now();
    const child = spawn(cmd, args, {
      env: o.env ?? process.env,
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, sig) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      resolve({ ms, startedAt, endedAt: startedAt + ms, code: code ?? (sig ? 128 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    if (o.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input);
    }
  });
}

/** Runs a command and resolves with its stdout. Throws with its stderr when it exits non-zero. */
export async function mustRun(cmd: string, args: readonly string[], o: TimedRunOptions = {}): Promise<string> {
  const r = await timedRun(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** One line of a command's error output, short enough for a table footnote. */
export function firstLine(r: TimedRun): string {
  const line = (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
  return `exit ${r.code}${line ? `: ${line.slice(0, 160)}` : ''}`;
}
