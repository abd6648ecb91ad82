// Polling what a user sees, for the swarm bench: `service ls` every ~100 ms
// until a service shows the wanted REPLICAS, with a deadline. The time returned
// is from the caller's start mark to the end of the poll that first saw it
// (what a person watching `service ls` would feel).
import { sleep } from '@shoal/api';
import { performance } from 'node:perf_hooks';
import type { TimedRun } from './timed-process.js';

/** Runs one CLI command (shoal or docker) and resolves with its result; never throws for a non-zero exit. */
export type Cli = (args: string[], timeoutMs?: number) => Promise<TimedRun>;

export interface PollOptions {
  /** Time between the starts of two polls (default 100 ms). */
  intervalMs?: number;
  /** Give up after this long from `since` (default 120 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Calls `check` every `intervalMs` until it returns true; resolves with the ms
 * from `since` (a performance.now() mark) to the end of that check. Throws
 * with `describe()` when the deadline passes.
 */
export async function pollUntil(since: number, check: () => Promise<boolean>, describe: () => string, o: PollOptions = {}): Promise<number> {
  const interval = o.intervalMs ?? 100;
  const deadline = since + (o.timeoutMs ?? 120_000);
  for (;;) {
    o.signal?.throwIfAborted();
    const started = performance.now();
    if (await check()) return performance.now() - since;
    const now = performance.now();
    if (now > deadline) throw new Error(`${describe()} (gave up after ${((now - since) / 1000).toFixed(1)} s)`);
    await sleep(Math.max(0, interval - (now - started)), o.signal);
  }
}

/** The REPLICAS column of `service ls` for `service`, or undefined when the call failed or the service is not listed. */
export async function replicasColumn(cli: Cli, service: string): Promise<string | undefined> {
  const r = await cli(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}'], 30_000);
  if (r.code !== 0) return undefined;
  for (const line of r.stdout.split('\n')) {
    const [name, replicas] = line.trim().split(/\s+/);
    if (name === service) return replicas;
  }
  return undefined;
}

/** ms from `since` until `service ls` shows `want` (e.g. "50/50") for the service. */
export async function untilReplicas(cli: Cli, service: string, want: string, since: number, o: PollOptions = {}): Promise<number> {
  let last: string | undefined;
  return pollUntil(
    since,
    async () => (last = await replicasColumn(cli, service)) === want,
    () => `service ${service} did not reach ${want}: service ls shows ${last ?? '(nothing)'}`,
    o,
  );
}

/** Waits until no container (running or not) of the service is left on the host `cli` talks to. */
export async function untilNoContainers(cli: Cli, service: string, o: PollOptions = {}): Promise<void> {
  let left = '?';
  await pollUntil(
    performance.now(),
    async () => {
      const r = await cli(['ps', '-a', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`], 30_000);
      left = r.code === 0 ? String(r.stdout.split('\n').filter((l) => l.trim() !== '').length) : `? (${r.stderr.trim()})`;
      return left === '0';
    },
    () => `containers of ${service} still there: ${left}`,
    { intervalMs: 250, timeoutMs: 180_000, ...o },
  );
}
