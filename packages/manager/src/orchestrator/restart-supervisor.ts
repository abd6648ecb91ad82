// The restart supervisor: when a task stops (or its node goes away), decide
// under the task's restart policy whether it gets a replacement, and hold the
// replacement back (desired READY) until the restart delay has passed and
// the old task has stopped. One supervisor is shared by the replicated,
// global and job orchestrators; they call it inside their own transactions.
//
// Semantics follow swarmkit's restart supervisor: conditions none /
// on-failure / any; max attempts counted per slot (or per node for global
// services) and per spec version, optionally only within a sliding window.
// A task whose node died or drained is replaced at once: that is not the
// task's failure, so there is no delay and it is not counted as an attempt.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Cluster__Output, Logger, Node__Output, Service__Output, Task__Output } from '@shoal/api';
import { all } from '../store/index.js';
import type { MemoryStore, StoreEvent, WriteTx } from '../store/index.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import {
  durationMs,
  hasStopped,
  isDesiredLive,
  newTask,
  observed,
  serviceMode,
  stateRank,
  taskTimeMs,
  timestampMs,
  toTimestamp,
} from './task.js';

/** Why a task is being replaced: it stopped by itself, or its node is gone, down or draining. */
export type RestartReason = 'failure' | 'node';

export interface RestartSupervisorOptions {
  clock?: Clock;
  logger?: Logger;
  /** The delay when the task's policy names none (Docker's default, 5 s). */
  defaultDelayMs?: number;
  /** How long a replacement waits for the old task to stop before starting anyway (1 min). */
  oldTaskTimeoutMs?: number;
  /** How long a task on a down node stays as it was before it is marked ORPHANED (24 h). */
  orphanGraceMs?: number;
}

interface DelayedStart {
  abort: () => void;
  done: Promise<void>;
  /** A restart of the delayed task itself is waiting for this delay to end. */
  waiter: boolean;
}

interface RestartHistory {
  specVersion: string;
  total: number;
  /** When each restart within the window happened (clock ms), oldest first. */
  times: number[];
}

export const DEFAULT_RESTART_DELAY_MS = 5_000;
export const DEFAULT_OLD_TASK_TIMEOUT_MS = 60_000;
export const DEFAULT_ORPHAN_GRACE_MS = 24 * 60 * 60 * 1000;

/** The key restart history is kept under: the slot, or the node for global modes. */
function instanceKey(t: Task__Output): string {
  return t.slot !== '0' ? `${t.service_id}/slot/${t.slot}` : `${t.service_id}/node/${t.node_id}`;
}

export class RestartSupervisor {
  readonly #store: MemoryStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #defaultDelayMs: number;
  readonly #oldTaskTimeoutMs: number;
  readonly #orphanGraceMs: number;
  readonly #delays = new Map<string, DelayedStart>();
  readonly #orphanTimers = new Map<string, AbortController>();
  readonly #history = new Map<string, Map<string, RestartHistory>>();

  constructor(store: MemoryStore, deps: RestartSupervisorOptions = {}) {
    this.#store = store;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'restart-supervisor' });
    this.#defaultDelayMs = deps.defaultDelayMs ?? DEFAULT_RESTART_DELAY_MS;
    this.#oldTaskTimeoutMs = deps.oldTaskTimeoutMs ?? DEFAULT_OLD_TASK_TIMEOUT_MS;
    this.#orphanGraceMs = deps.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
  }

  /** Delayed starts in progress (replacement tasks held at desired READY). */
  get pendingStarts(): number {
    return this.#delays.size;
  }

  /**
   * Picks up what a previous leader left in flight — replacements still at
   * desired READY, tasks on down nodes not yet orphaned — then waits for
   * `signal` and cancels every pending timer.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const now = this.#clock.now();
    this.#store.view((tx) => {
      for (const t of tx.tasks.find(all)) {
        if (t.desired_state === 'READY' && !hasStopped(t) && !this.#delays.has(t.id)) {
          const remaining = Math.max(0, this.#policyDelay(t) - (now - taskTimeMs(t)));
          this.delayStart(undefined, t.id, remaining, false);
        } else if (!isDesiredLive(t) && !hasStopped(t) && t.node_id !== '') {
          const n = tx.nodes.get(t.node_id);
          if (!n || n.status?.state === 'DOWN') {
            const since = timestampMs(t.meta?.updated_at) ?? now;
            this.#scheduleOrphan(t.id, t.node_id, Math.max(0, this.#orphanGraceMs - (now - since)));
          }
        }
      }
    });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.cancelAll();
  }

  /** Cancels every pending delayed start and orphan timer. */
  cancelAll(): void {
    for (const d of this.#delays.values()) d.abort();
    for (const c of this.#orphanTimers.values()) c.abort();
  }

  /** Cancels the delayed start of `taskId` (a replacement that was deleted). */
  cancel(taskId: string): void {
    this.#delays.get(taskId)?.abort();
    this.#orphanTimers.get(taskId)?.abort();
  }

  /** Forgets the restart history of a removed service. */
  clearServiceHistory(serviceId: string): void {
    this.#history.delete(serviceId);
  }

  /**
   * Shuts `task` down and, if its policy (or `reason` 'node') says so, creates
   * its replacement in the same slot (or on the same node for global modes),
   * held at desired READY until the delay has passed and the old task has
   * stopped. Runs inside the caller's transaction; a no-op for a task already
   * shut down. Returns the replacement's id, if one was made.
   */
  restart(
    tx: WriteTx,
    cluster: Cluster__Output | null,
    service: Service__Output,
    task: Task__Output,
    reason: RestartReason,
  ): string | undefined {
    const pending = this.#delays.get(task.id);
    if (pending) {
      // The task is itself a replacement still in its delay: restarting it
      // now would make a tight loop (an image that does not exist). Restart
      // it once its delay is over.
      if (!pending.waiter) {
        pending.waiter = true;
        void pending.done.then(() => this.#restartLater(task.id, reason));
      }
      return undefined;
    }
    if (!isDesiredLive(task)) return undefined;
    tx.tasks.update({ ...task, desired_state: 'SHUTDOWN' });

    const node: Node__Output | undefined = task.node_id ? tx.nodes.get(task.node_id) : undefined;
    const nodeGone = task.node_id !== '' && (!node || node.status?.state === 'DOWN');
    if (reason === 'node' && nodeGone && !hasStopped(task)) this.#scheduleOrphan(task.id, task.node_id, this.#orphanGraceMs);
    if (reason === 'failure' && !this.shouldRestart(task, service)) return undefined;

    const mode = serviceMode(service);
    const global = mode === 'global' || mode === 'global_job';
    if (global && task.node_id === '') return undefined;
    const replacement = newTask(service, global ? task.node_id : Number(task.slot), cluster, { now: this.#clock.now() });
    const drained = node?.spec?.availability === 'DRAIN';
    const delay = reason === 'node' || nodeGone || drained ? 0 : this.#policyDelay(task);
    const waitStop = !nodeGone && !hasStopped(task);
    if (delay > 0 || waitStop) replacement.desired_state = 'READY';
    tx.tasks.create(replacement);
    if (reason === 'failure') this.#recordRestart(task, this.#clock.now());
    const id = replacement.id as string;
    if (replacement.desired_state === 'READY') this.delayStart(task, id, delay, waitStop);
    return id;
  }

  /**
   * Whether a stopped task gets a replacement under its restart policy:
   * condition none never, on-failure unless it completed, any always; and
   * fewer than max_attempts restarts of its slot so far (within the window,
   * when one is set; counted afresh for each spec version).
   */
  shouldRestart(task: Task__Output, _service: Service__Output): boolean {
    const policy = task.spec?.restart;
    const condition = policy?.condition ?? 'ANY';
    if (condition === 'NONE') return false;
    if (condition === 'ON_FAILURE' && observed(task) === 'COMPLETE') return false;
    const max = Number(policy?.max_attempts ?? 0);
    if (max === 0) return true;
    const info = this.#history.get(task.service_id)?.get(instanceKey(task));
    if (!info || info.specVersion !== (task.spec_version?.index ?? '0')) return true;
    const window = durationMs(policy?.window);
    if (window === 0) return info.total < max;
    const at = taskTimeMs(task) || this.#clock.now();
    const lookback = at - window;
    info.times = info.times.filter((t) => t > lookback);
    return info.times.length < max;
  }

  /**
   * Moves a held task (desired READY) to desired RUNNING (COMPLETE for a
   * job's task) so that it starts. A no-op for a task already past that.
   */
  startNow(tx: WriteTx, taskId: string): void {
    const t = tx.tasks.get(taskId);
    if (!t || stateRank(t.desired_state) >= stateRank('RUNNING')) return;
    tx.tasks.update({ ...t, desired_state: t.job_iteration ? 'COMPLETE' : 'RUNNING' });
  }

  /**
   * Starts `newTaskId` after `delayMs`, and — with `waitStop` — once `oldTask`
   * has stopped, its node went down or was removed, or the old-task timeout
   * passed. Call it inside the transaction that creates the new task, so no
   * event of the old task is missed.
   */
  delayStart(oldTask: Task__Output | undefined, newTaskId: string, delayMs: number, waitStop: boolean): void {
    this.#delays.get(newTaskId)?.abort();
    const ctl = new AbortController();
    const old = waitStop && oldTask && !hasStopped(oldTask) ? oldTask : undefined;
    const watcher = old
      ? this.#store.watch((e: StoreEvent) => {
          if (e.kind === 'commit') return false;
          if (e.table === 'tasks') return e.object.id === old.id && (e.kind === 'delete' || hasStopped(e.object));
          if (e.table === 'nodes' && old.node_id !== '') {
            return e.object.id === old.node_id && (e.kind === 'delete' || e.object.status?.state === 'DOWN');
          }
          return false;
        }, { signal: ctl.signal })
      : undefined;
    const entry: DelayedStart = { abort: () => ctl.abort(), done: Promise.resolve(), waiter: false };
    entry.done = (async () => {
      try {
        if (delayMs > 0) await this.#clock.sleep(delayMs, ctl.signal);
        if (watcher) {
          const timeout = new AbortController();
          const timer = this.#clock.sleep(this.#oldTaskTimeoutMs, AbortSignal.any([ctl.signal, timeout.signal])).catch(() => undefined);
          await Promise.race([watcher.next(), timer]);
          timeout.abort();
        }
        ctl.signal.throwIfAborted();
        await this.#store.update((tx) => this.startNow(tx, newTaskId));
      } catch (err) {
        if (!ctl.signal.aborted) {
          this.#logger.warn('starting a delayed task failed', { 'task.id': newTaskId, err: errorMessage(err) });
        }
      } finally {
        watcher?.close();
        if (this.#delays.get(newTaskId) === entry) this.#delays.delete(newTaskId);
      }
    })();
    this.#delays.set(newTaskId, entry);
  }

  /**
   * Shuts a task down without a replacement (a global service's task on a
   * node that went away); if its node is down or gone, the task is marked
   * ORPHANED after the grace unless it is heard from again.
   */
  shutdown(tx: WriteTx, task: Task__Output): void {
    if (stateRank(task.desired_state) >= stateRank('SHUTDOWN')) return;
    tx.tasks.update({ ...task, desired_state: 'SHUTDOWN' });
    if (task.node_id === '' || hasStopped(task)) return;
    const node = tx.nodes.get(task.node_id);
    if (!node || node.status?.state === 'DOWN') this.#scheduleOrphan(task.id, task.node_id, this.#orphanGraceMs);
  }

  #policyDelay(t: Task__Output): number {
    const delay = t.spec?.restart?.delay;
    return delay ? durationMs(delay) : this.#defaultDelayMs;
  }

  #recordRestart(task: Task__Output, now: number): void {
    const policy = task.spec?.restart;
    if (!policy || Number(policy.max_attempts) === 0) return;
    let byInstance = this.#history.get(task.service_id);
    if (!byInstance) this.#history.set(task.service_id, (byInstance = new Map<string, RestartHistory>()));
    const key = instanceKey(task);
    const version = task.spec_version?.index ?? '0';
    let info = byInstance.get(key);
    // Failures under an older spec do not count against a new one.
    if (!info || info.specVersion !== version) byInstance.set(key, (info = { specVersion: version, total: 0, times: [] }));
    info.total++;
    if (durationMs(policy.window) > 0) info.times.push(now);
  }

  async #restartLater(taskId: string, reason: RestartReason): Promise<void> {
    try {
      await this.#store.update((tx) => {
        const t = tx.tasks.get(taskId);
        if (!t || !isDesiredLive(t)) return;
        const service = tx.services.get(t.service_id);
        if (!service) return;
        this.restart(tx, tx.clusters.find(all)[0] ?? null, service, t, reason);
      });
    } catch (err) {
      this.#logger.warn('restarting a task after its delay failed', { 'task.id': taskId, err: errorMessage(err) });
    }
  }

  #scheduleOrphan(taskId: string, nodeId: string, afterMs: number): void {
    this.#orphanTimers.get(taskId)?.abort();
    const ctl = new AbortController();
    this.#orphanTimers.set(taskId, ctl);
    void (async () => {
      try {
        await this.#clock.sleep(afterMs, ctl.signal);
        await this.#store.update((tx) => {
          const t = tx.tasks.get(taskId);
          if (!t || hasStopped(t)) return;
          const n = tx.nodes.get(nodeId);
          if (n && n.status?.state !== 'DOWN') return; // it came back; the dispatcher reconciles it
          tx.tasks.update({
            ...t,
            status: {
              ...t.status,
              state: 'ORPHANED',
              message: 'orphaned: its node stayed down',
              timestamp: toTimestamp(this.#clock.now()),
            },
          });
        });
      } catch (err) {
        if (!ctl.signal.aborted) this.#logger.warn('marking a task orphaned failed', { 'task.id': taskId, err: errorMessage(err) });
      } finally {
        if (this.#orphanTimers.get(taskId) === ctl) this.#orphanTimers.delete(taskId);
      }
    })();
  }
}
