// Task status reports from every node, queued and written in batches: one
// store batch per ~100 ms (or sooner when many are queued), one callback per
// task, so a bad update fails alone. A report never moves a task backwards,
// and only the node a task is assigned to may report it.
import { isDeepStrictEqual } from 'node:util';
import { errorMessage } from '@shoal/api';
import type { Logger, TaskStatus, TaskStatus__Output } from '@shoal/api';
import type { MemoryStore } from '../store/index.js';
import { stateRank } from './task-state.js';

export interface StatusBatcherOptions {
  logger: Logger;
  /** How long the first queued update waits for others (default 100 ms). */
  intervalMs: number;
  /** Queued tasks that trigger a write at once (default 1,000). */
  maxItems: number;
  /** Milliseconds since the epoch, for reports that carry no timestamp. */
  now: () => number;
  /** Called after each batch with how many task statuses it changed. */
  onBatch?: (applied: number) => void;
}

interface Pending {
  nodeId: string;
  status: TaskStatus__Output;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

function timestamp(ms: number): { seconds: string; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export class StatusBatcher {
  readonly #store: MemoryStore;
  readonly #o: StatusBatcherOptions;
  #pending = new Map<string, Pending>();
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed: Error | undefined;

  constructor(store: MemoryStore, options: StatusBatcherOptions) {
    this.#store = store;
    this.#o = options;
  }

  /** Tasks whose status is queued. */
  get queued(): number {
    return this.#pending.size;
  }

  /**
   * Queues status reports of node `nodeId` (already checked to be its tasks);
   * resolves once the batch holding them is committed.
   * @throws the closing error once the batcher is closed; the proposer's
   *   error (NotLeader, Unavailable) when the batch could not be committed.
   */
  enqueue(nodeId: string, updates: ReadonlyArray<{ task_id: string; status: TaskStatus__Output }>): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (updates.length === 0) return Promise.resolve();
    for (const u of updates) {
      const prev = this.#pending.get(u.task_id);
      // Two reports in one batch: the later wins unless it is behind.
      if (prev && stateRank(prev.status.state) > stateRank(u.status.state)) continue;
      this.#pending.set(u.task_id, { nodeId, status: u.status });
    }
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#pending.size >= this.#o.maxItems) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#o.intervalMs);
    return done;
  }

  /** Writes what is queued now (after any write in progress). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#pending;
    const waiters = this.#waiters;
    this.#pending = new Map();
    this.#waiters = [];
    const run = this.#tail.then(() => this.#write(pending, waiters));
    this.#tail = run;
    return run;
  }

  /** Refuses new reports and fails the queued ones with `err` (writes in progress finish). */
  close(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
    this.#pending = new Map();
  }

  async #write(pending: Map<string, Pending>, waiters: Waiter[]): Promise<void> {
    if (pending.size === 0) {
      for (const w of waiters) w.resolve();
      return;
    }
    const log = this.#o.logger;
    const applied = new Set<string>();
    const ids = [...pending.keys()];
    try {
      const result = await this.#store.batch((b) => {
        for (const taskId of ids) {
          const { nodeId, status } = pending.get(taskId) as Pending;
          b.update((tx) => {
            const t = tx.tasks.get(taskId);
            if (!t) {
              log.debug('status report for a task that no longer exists', { 'task.id': taskId, 'node.id': nodeId });
              return;
            }
            if (t.node_id !== nodeId) {
              log.warn('status report for a task not assigned to the reporting node; ignored', {
                'task.id': taskId,
                'node.id': nodeId,
                'task.node_id': t.node_id,
              });
              return;
            }
            const current = t.status?.state ?? 'NEW';
            if (stateRank(status.state) < stateRank(current)) {
              log.debug('status report would move a task backwards; ignored', {
                'task.id': taskId,
                'node.id': nodeId,
                transition: `${current}->${status.state}`,
              });
              return;
            }
            const next: TaskStatus = { ...status, timestamp: status.timestamp ?? timestamp(this.#o.now()) };
            if (t.status && isDeepStrictEqual({ ...t.status, timestamp: null }, { ...status, timestamp: null })) return;
            tx.tasks.update({ ...t, status: next });
            applied.add(taskId);
          });
        }
      });
      for (const f of result.failed) {
        log.warn('a task status update failed', { 'task.id': ids[f.position], err: errorMessage(f.error) });
      }
    } catch (err) {
      log.warn('writing a batch of task status updates failed', { count: ids.length, err: errorMessage(err) });
      for (const w of waiters) w.reject(err);
      return;
    }
    this.#o.onBatch?.(applied.size);
    for (const w of waiters) w.resolve();
  }
}
