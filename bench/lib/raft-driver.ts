// The one client driver both replicated stores are measured with: N concurrent
// workers, each issuing puts of a fixed-size value back to back through a
// `put(key, value)` function, recording each acknowledged write's latency.
// Shoal and etcd differ only in the `put` they hand in, so any overhead of the
// driver itself (timers, bookkeeping, the event loop of this process) is the
// same on both sides of a ratio.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

/** Writes `value` under `key`; resolves once the store acknowledged it, throws when it did not. */
export type PutFn = (key: string, value: Uint8Array, signal: AbortSignal) => Promise<void>;

export interface LoadOptions {
  /** Concurrent workers, each with one put in flight at a time. */
  clients: number;
  put: PutFn;
  /** Bytes per value (default 256). */
  valueBytes?: number;
  /** Puts before this are issued but not recorded (connections, leader discovery, JIT). Default 1,000 ms. */
  warmupMs?: number;
  /**
   * Length of the recorded window after the warm-up; omit to run until `stop()`
   * (the failover measurement), where everything from the start is recorded.
   */
  durationMs?: number;
  /** Pause of a worker after a failed put, so a dead member does not turn the driver into a busy loop. Default 10 ms. */
  errorBackoffMs?: number;
  /** Called when the recorded window opens and when it closes (with `durationMs` only), e.g. to read CPU counters. */
  onWindow?: (edge: 'open' | 'close') => void;
  /** Called for every acknowledged put with its issue and acknowledgement times (performance.now()). */
  onAck?: (startMs: number, endMs: number) => void;
  signal?: AbortSignal;
}

export interface LoadResult {
  clients: number;
  /** Acknowledged puts issued and acknowledged inside the recorded window. */
  acked: number;
  failed: number;
  firstError?: string;
  /** The recorded window in ms. */
  windowMs: number;
  /** Latency in ms of each recorded put. */
  latencies: number[];
  writesPerSec: number;
}

export interface RunningLoad {
  /** Stops issuing, waits for the puts in flight to settle, and returns the figures. */
  stop(): Promise<LoadResult>;
}

/**
 * Starts the workers and returns at once. With `durationMs`, `done` resolves after the
 * warm-up and the window; without, the load runs until `stop()`.
 */
export function startLoad(o: LoadOptions): RunningLoad & { done: Promise<LoadResult> } {
  const value = randomBytes(o.valueBytes ?? 256);
  const warmup = o.durationMs === undefined ? 0 : (o.warmupMs ?? 1_000);
  const backoff = o.errorBackoffMs ?? 10;
  const ctl = new AbortController();
  // Every worker's put and back-off listen on this signal.
  setMaxListeners(o.clients * 2 + 10, ctl.signal);
  const onOuterAbort = (): void => ctl.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const t0 = performance.now();
  const from = t0 + warmup;
  let to = o.durationMs === undefined ? Infinity : from + o.durationMs;
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let stopped = false;

  const worker = async (w: number): Promise<void> => {
    for (let seq = 0; !stopped && performance.now() < to; seq++) {
      // A small key space per worker: the stores see overwrites, as a real cluster store does.
      const key = `bench/${w}/${seq % 64}`;
      const start = performance.now();
      try {
        await o.put(key, value, ctl.signal);
        const end = performance.now();
        if (start >= from && end <= to) latencies.push(end - start);
        o.onAck?.(start, end);
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (start >= from && performance.now() <= to) {
          failed += 1;
          firstError ??= e instanceof Error ? e.message : String(e);
        }
        await delay(backoff, undefined, { signal: ctl.signal }).catch(() => undefined);
      }
    }
  };

  const edges: NodeJS.Timeout[] = [];
  const fired = { open: false, close: false };
  const edge = (e: 'open' | 'close'): void => {
    if (fired[e] || (e === 'close' && !fired.open)) return;
    fired[e] = true;
    o.onWindow?.(e);
  };
  if (o.onWindow && o.durationMs !== undefined) {
    edges.push(setTimeout(() => edge('open'), warmup), setTimeout(() => edge('close'), warmup + o.durationMs));
  }
  const workers = Promise.all(Array.from({ length: o.clients }, (_, w) => worker(w)));
  const finish = async (): Promise<LoadResult> => {
    await workers;
    for (const t of edges) clearTimeout(t);
    // The workers can finish a little before a late timer: close the window now.
    edge('close');
    o.signal?.removeEventListener('abort', onOuterAbort);
    const end = Math.min(to, performance.now());
    const windowMs = Math.max(1, end - from);
    const r: LoadResult = { clients: o.clients, acked: latencies.length, failed, windowMs, latencies, writesPerSec: (latencies.length * 1000) / windowMs };
    if (firstError !== undefined) r.firstError = firstError;
    return r;
  };
  const done = finish();
  return {
    done,
    stop: async () => {
      stopped = true;
      to = Math.min(to, performance.now());
      ctl.abort(new Error('load stopped'));
      return done;
    },
  };
}

/** Runs `o.clients` workers for the warm-up plus `o.durationMs` and returns the figures. */
export async function runLoad(o: LoadOptions & { durationMs: number }): Promise<LoadResult> {
  return startLoad(o).done;
}
