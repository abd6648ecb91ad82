// What the raft bench needs from a 3-member replicated store it runs as real
// processes on loopback: start it, find its leader, kill -9 a member and bring
// it back, and hand out `put` functions for the driver. Shoal's KV service and
// etcd implement it (raft-shoal.ts, raft-etcd.ts); the process plumbing they
// share is here.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { PutFn } from './raft-driver.js';

/**
 * How a client reaches the cluster: `leader` sends every write straight to the
 * current leader's endpoint (the best case for either store, used for
 * throughput); `all` gives the client every endpoint and lets it fail over on
 * its own (used while the leader is killed).
 */
export type ClientMode = 'leader' | 'all';

export interface BenchClient {
  put: PutFn;
  close(): void;
}

export interface BenchCluster {
  /** "shoal" or "etcd". */
  readonly name: string;
  /** One line naming the software and its settings, for the bench header. */
  readonly description: string;
  readonly size: number;
  /** The running members' process ids. */
  pids(): number[];
  /** Starts every member and waits (≤ 30 s) for a leader. Throws with the members' logs when it does not come up. */
  start(signal?: AbortSignal): Promise<void>;
  /** The index of the member every live member names as leader; waits ≤ `timeoutMs` (default 15 s), then throws. */
  leader(signal?: AbortSignal, timeoutMs?: number): Promise<number>;
  /** kill -9 of member `i`. */
  kill(i: number): void;
  /** Starts member `i` again on its old data dir (it was killed). */
  restart(i: number, signal?: AbortSignal): Promise<void>;
  /** Waits (≤ `timeoutMs`, default 60 s) until every member answers, agrees on the leader and has applied close to the leader. Throws otherwise. */
  waitHealthy(signal?: AbortSignal, timeoutMs?: number): Promise<void>;
  client(mode: ClientMode, signal?: AbortSignal): Promise<BenchClient>;
  /** Stops every member and removes the data. Never throws. */
  destroy(): Promise<void>;
}

/** `n` TCP ports that were free on 127.0.0.1 a moment ago. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One member's OS process, its output appended to a log file that survives restarts. */
export class MemberProcess {
  private child?: ChildProcess;

  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly logPath: string,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process; throws when it cannot be spawned. */
  async spawn(): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((resolve, reject) => {
      log.once('open', resolve);
      log.once('error', reject);
    });
    const child = spawn(this.cmd, this.args, { stdio: ['ignore', log, log], env: this.env });
    child.once('exit', () => log.end());
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.child = child;
  }

  /** Sends SIGKILL (no-op when not running). */
  kill(): void {
    if (this.running) this.child?.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Never throws. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  /** Waits until the process has exited (after kill()). */
  async exited(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    await new Promise((r) => child.once('exit', r));
  }

  /** The last `chars` characters of the log. */
  async tail(chars = 2_000): Promise<string> {
    return (await readFile(this.logPath, 'utf8').catch(() => '')).slice(-chars);
  }
}

/**
 * Calls `probe` every `everyMs` until it returns a value other than undefined, and returns
 * it. Throws `what` (with the last probe error) after `timeoutMs`, or the signal's reason.
 */
/** What both clusters share: their member processes, killed and restarted by index. */
export class MemberGroup {
  readonly members: MemberProcess[] = [];

  pids(): number[] {
    return this.members.map((m) => m.pid).filter((p): p is number => p !== undefined);
  }

  kill(i: number): void {
    this.members[i]?.kill();
  }

  /** Waits for member i to have exited, runs `before` (e.g. replace a client), and starts it again. */
  async respawn(i: number, signal?: AbortSignal, before?: () => void): Promise<void> {
    const m = this.members[i];
    if (!m) throw new RangeError(`No member ${i}.`);
    await m.exited();
    signal?.throwIfAborted();
    before?.();
    await m.spawn();
  }
}

export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, signal?: AbortSignal, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) throw new Error(`${what} within ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}.`);
    await delay(everyMs, undefined, signal ? { signal } : {});
  }
}

/** CPU time (user + system) `pid` has used so far, in ms; 0 when it is gone. */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** USER_HZ: 100 on every Linux the bench runs on. */
const CLOCK_TICKS = 100;

/** Applied-index lag under which a member counts as caught up. */
export const CAUGHT_UP_LAG = 1_000;
