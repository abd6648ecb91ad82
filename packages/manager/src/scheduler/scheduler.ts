// The scheduler: assigns PENDING tasks to nodes. It opens with an atomic
// view-and-watch of nodes and tasks, keeps a NodeInfo per node up to date from
// events, and on a debounced commit (50 ms of quiet, at most 1 s after the
// first) decides for every waiting task from that one consistent picture.
// Decisions are written in one batch that re-reads each task and drops the
// decision if the task changed meanwhile; the change's own event then puts
// the task back in the picture as it now is. Model: swarmkit
// manager/scheduler/scheduler.go.
import { errorMessage, isAbortError, isConflict, isNotFound, sleep } from '@shoal/api';
import type { Logger, Task, Task__Output } from '@shoal/api';
import { or, byTaskState } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent, StoreEvent, Watcher, WriteTx } from '../store/index.js';
import { rankNodes } from './explain.js';
import type { NodeRank } from './explain.js';
import { NodeInfo } from './node-info.js';
import { Pipeline } from './pipeline.js';
import { GroupPlacer } from './placement.js';
import { defaultScorers } from './scorers.js';
import type { Scorer } from './scorers.js';
import { COMPLETE, occupiesNode, rank, wantsNode } from './task-state.js';

/** Time for debouncing; the orchestrators' ManualClock fits it. */
export interface SchedulerClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms`.
   * @throws the signal's reason when it aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemSchedulerClock: SchedulerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};

/** What one scheduling pass did (for metrics and benchmarks). */
export interface SchedulingPass {
  /** Tasks that were waiting for a node when the pass began. */
  readonly waiting: number;
  /** Tasks written as ASSIGNED. */
  readonly assigned: number;
  /** Tasks left PENDING with "no suitable node (…)". */
  readonly unschedulable: number;
  /** Decisions dropped because the task changed or vanished meanwhile. */
  readonly stale: number;
  /** Decisions whose write failed (retried on a later pass). */
  readonly failed: number;
  /** Milliseconds spent deciding, and writing. */
  readonly decideMs: number;
  readonly writeMs: number;
}

export interface SchedulerDeps {
  logger: Logger;
  clock?: SchedulerClock;
  /** Quiet after a commit before a pass (default 50 ms). */
  debounceMs?: number;
  /** Longest a stream of commits may hold a pass back (default 1 s). */
  maxLatencyMs?: number;
  /** Decisions per store callback when writing (default 50). */
  writeChunk?: number;
  /** Called after each pass that had work. */
  onPass?: (pass: SchedulingPass) => void;
}

interface Decision {
  /** The task as the decision saw it. */
  readonly old: Task__Output;
  /** What to write. */
  readonly next: Task__Output;
  readonly assigned: boolean;
}

// Our own writes come back as one event per task; a pass over 100,000 tasks
// must not overflow the watcher while the pass is still writing.
const WATCH_BUFFER = 1 << 22;
const RESYNC_PAUSE_MS = 1000;
const ASSIGNED_MESSAGE = 'scheduler assigned task to node';
const CONFIRMED_MESSAGE = 'scheduler confirmed task can run on preassigned node';

const LIVE_STATES = ['PENDING', 'ASSIGNED', 'ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING'] as const;

/** "no suitable node (…)", the sentence `service ps` shows for a task nothing can take. */
export function noSuitableNode(explanation: string): string {
  return explanation === '' ? 'no suitable node' : `no suitable node (${explanation})`;
}

/**
 * Tasks with the same service and spec pass the same filters, so one pass of
 * the filters over the nodes serves them all. The spec version identifies
 * the spec; a task without one is keyed by what the filters read.
 */
function groupKey(t: Task__Output): string {
  const v = t.spec_version?.index;
  if (v && v !== '0') return `${t.service_id}\u0000${v}`;
  return `${t.service_id}\u0000${JSON.stringify([
    t.spec?.placement ?? null,
    t.spec?.resources?.reservations ?? null,
    t.endpoint?.ports ?? null,
    t.endpoint?.spec?.ports ?? null,
  ])}`;
}

export class Scheduler {
  readonly #store: MemoryStore;
  readonly #log: Logger;
  readonly #clock: SchedulerClock;
  readonly #debounceMs: number;
  readonly #maxLatencyMs: number;
  readonly #chunk: number;
  readonly #onPass: ((pass: SchedulingPass) => void) | undefined;
  readonly #pipeline = new Pipeline();
  readonly #scorers: Scorer[] = defaultScorers();

  /** Every node the store has, and placeholders for nodes tasks name that it lacks. */
  #infos = new Map<string, NodeInfo>();
  /** Task id → the node its resources are counted on. */
  #placedOn = new Map<string, string>();
  /** PENDING tasks without a node. */
  #unassigned = new Map<string, Task__Output>();
  /** PENDING tasks that came with a node (global services): checked, not placed. */
  #preassigned = new Map<string, Task__Output>();
  #dirty = false;

  constructor(store: MemoryStore, deps: SchedulerDeps) {
    this.#store = store;
    this.#log = deps.logger.child({ component: 'scheduler' });
    this.#clock = deps.clock ?? systemSchedulerClock;
    this.#debounceMs = deps.debounceMs ?? 50;
    this.#maxLatencyMs = deps.maxLatencyMs ?? 1000;
    this.#chunk = Math.max(1, deps.writeChunk ?? 50);
    this.#onPass = deps.onPass;
  }

  /** Tasks waiting for a node (unassigned and preassigned), as the scheduler sees them. */
  get waiting(): number {
    return this.#unassigned.size + this.#preassigned.size;
  }

  /**
   * How every node ranks for a task right now, by the scheduler's picture:
   * the first filter each failing node fails, and the scores of the others,
   * best first. Undefined for a task that is not waiting for a node.
   */
  rank(taskId: string): NodeRank[] | undefined {
    const t = this.#unassigned.get(taskId) ?? this.#preassigned.get(taskId);
    if (!t) return undefined;
    const nodes = t.node_id === '' ? this.#infos.values() : [this.#infos.get(t.node_id)].filter((i) => i !== undefined);
    return rankNodes(t, nodes, this.#clock.now());
  }

  /**
   * Schedules until `signal` aborts. A watcher that fell behind, or a write
   * the store refused as a whole (lost leadership, no quorum), makes it start
   * over from a fresh view.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const { watcher } = this.#store.viewAndWatch(
        (tx) => this.#init(tx),
        { tables: ['nodes', 'tasks'] },
        { signal, bufferSize: WATCH_BUFFER },
      );
      try {
        await this.#follow(watcher, signal);
        return;
      } catch (err) {
        if (signal.aborted || isAbortError(err)) return;
        this.#log.warn('scheduling stopped short; starting over from a fresh view of the store', { err: errorMessage(err) });
        try {
          await this.#clock.sleep(RESYNC_PAUSE_MS, signal);
        } catch {
          return;
        }
      } finally {
        watcher.close();
      }
    }
  }

  #init(tx: ReadTx): void {
    this.#infos = new Map();
    this.#placedOn = new Map();
    this.#unassigned = new Map();
    this.#preassigned = new Map();
    for (const n of tx.nodes.find()) this.#infos.set(n.id, new NodeInfo(n.id, n));
    // Finished tasks hold nothing; skipping them keeps a long history cheap.
    for (const t of tx.tasks.find(or(...LIVE_STATES.map((s) => byTaskState(s))))) this.#track(t);
    this.#dirty = true;
  }

  async #follow(watcher: Watcher, signal: AbortSignal): Promise<void> {
    type Next = { kind: 'event'; r: IteratorResult<StoreEvent> } | { kind: 'error'; err: unknown };
    const nextEvent = (): Promise<Next> =>
      watcher.next().then(
        (r): Next => ({ kind: 'event', r }),
        (err: unknown): Next => ({ kind: 'error', err }),
      );

    await this.#pass(signal);
    let pending = nextEvent();
    let timer: { ac: AbortController; fired: Promise<'timer'> } | undefined;
    let debounceStarted = 0;
    const startTimer = (): void => {
      timer?.ac.abort();
      const ac = new AbortController();
      timer = {
        ac,
        fired: this.#clock.sleep(this.#debounceMs, ac.signal).then(
          () => 'timer' as const,
          () => new Promise<'timer'>(() => undefined), // cancelled: never wins
        ),
      };
    };

    try {
      for (;;) {
        const got = timer ? await Promise.race([pending, timer.fired]) : await pending;
        if (got === 'timer') {
          timer = undefined;
          await this.#pass(signal);
          continue;
        }
        if (got.kind === 'error') throw got.err;
        if (got.r.done) return;
        // Take everything queued at once: after a big pass our own writes
        // come back as one event per task, and reading a long queue one
        // event at a time is slow.
        const batch = [got.r.value, ...watcher.drain()];
        pending = nextEvent();
        for (const e of batch) {
          if (e.kind !== 'commit') {
            this.#onEvent(e);
            continue;
          }
          if (!this.#dirty || this.waiting === 0) continue;
          if (!timer) {
            debounceStarted = this.#clock.now();
            startTimer();
          } else if (this.#clock.now() - debounceStarted >= this.#maxLatencyMs) {
            timer.ac.abort();
            timer = undefined;
            await this.#pass(signal);
          } else {
            startTimer();
          }
        }
      }
    } finally {
      timer?.ac.abort();
    }
  }

  #onEvent(e: StoreChangeEvent): void {
    if (e.table === 'nodes') {
      if (e.kind === 'delete') {
        const info = this.#infos.get(e.object.id);
        if (info) {
          if (info.taskCount === 0) this.#infos.delete(e.object.id);
          else info.setNode(null);
        }
      } else {
        const info = this.#infos.get(e.object.id);
        if (info) info.setNode(e.object);
        else this.#infos.set(e.object.id, new NodeInfo(e.object.id, e.object));
      }
      this.#dirty = true;
      return;
    }
    if (e.table !== 'tasks') return;
    const old = e.kind === 'create' ? undefined : (e.old ?? e.object);
    if (e.kind === 'delete') {
      if (this.#untrack(e.object.id)) this.#dirty = true;
      return;
    }
    const t = e.object;
    if (old && old.status?.state !== t.status?.state && (t.status?.state === 'FAILED' || t.status?.state === 'REJECTED')) {
      this.#infos.get(t.node_id)?.taskFailed(t.service_id, this.#clock.now());
    }
    if (this.#relevantChange(old, t)) this.#dirty = true;
    this.#track(t);
  }

  /** Whether a task change can change what the next pass decides. */
  #relevantChange(old: Task__Output | undefined, t: Task__Output): boolean {
    if (wantsNode(t)) {
      // A waiting task whose status message changed (ours, usually) is still waiting.
      return !(old && wantsNode(old) && old.node_id === t.node_id);
    }
    if (!old) return false;
    // Resources, ports or replica counts freed.
    if (occupiesNode(old) && (!occupiesNode(t) || old.node_id !== t.node_id)) return true;
    return occupiesNode(old) && rank(old.desired_state) <= COMPLETE && rank(t.desired_state) > COMPLETE;
  }

  /** Puts a task where it belongs in the picture (replacing what was known of it). */
  #track(t: Task__Output): void {
    this.#untrack(t.id);
    if (wantsNode(t)) {
      (t.node_id === '' ? this.#unassigned : this.#preassigned).set(t.id, t);
    } else if (occupiesNode(t)) {
      let info = this.#infos.get(t.node_id);
      if (!info) {
        info = new NodeInfo(t.node_id);
        this.#infos.set(t.node_id, info);
      }
      info.addTask(t);
      this.#placedOn.set(t.id, t.node_id);
    }
  }

  /** Forgets a task; true when it held a node's resources. */
  #untrack(id: string): boolean {
    this.#unassigned.delete(id);
    this.#preassigned.delete(id);
    const nodeId = this.#placedOn.get(id);
    if (nodeId === undefined) return false;
    this.#placedOn.delete(id);
    const info = this.#infos.get(nodeId);
    if (info) {
      info.removeTask(id);
      if (!info.node && info.taskCount === 0) this.#infos.delete(nodeId);
    }
    return true;
  }

  /** One scheduling pass: decide for every waiting task, then write the decisions. */
  async #pass(signal: AbortSignal): Promise<void> {
    this.#dirty = false;
    const waiting = this.waiting;
    if (waiting === 0) return;
    const t0 = performance.now();
    const now = this.#clock.now();
    const decisions: Decision[] = [];
    this.#decidePreassigned(now, decisions);
    this.#decideUnassigned(now, decisions);
    const t1 = performance.now();
    const outcome = await this.#apply(decisions, signal);
    const t2 = performance.now();
    const pass: SchedulingPass = {
      waiting,
      assigned: outcome.assigned,
      unschedulable: outcome.unschedulable,
      stale: outcome.stale,
      failed: outcome.failed,
      decideMs: t1 - t0,
      writeMs: t2 - t1,
    };
    this.#log.debug('scheduling pass', { ...pass });
    this.#onPass?.(pass);
  }

  #decidePreassigned(now: number, out: Decision[]): void {
    for (const t of [...this.#preassigned.values()]) {
      const info = this.#infos.get(t.node_id);
      if (!info?.node) continue; // the node is not known (yet); its arrival makes the pass run again
      this.#pipeline.setTask(t);
      if (this.#pipeline.process(info)) {
        const next = this.#withStatus(t, t.node_id, 'ASSIGNED', CONFIRMED_MESSAGE, '', now);
        out.push({ old: t, next, assigned: true });
        this.#track(next);
      } else {
        this.#refuse(t, this.#pipeline.explain(), now, out);
      }
    }
  }

  #decideUnassigned(now: number, out: Decision[]): void {
    const groups = new Map<string, Task__Output[]>();
    for (const t of this.#unassigned.values()) {
      const k = groupKey(t);
      const g = groups.get(k);
      if (g) g.push(t);
      else groups.set(k, [t]);
    }
    const candidates = [...this.#infos.values()].filter((i) => i.node !== null);
    for (const tasks of groups.values()) {
      const first = tasks[0] as Task__Output;
      this.#pipeline.setTask(first);
      for (const s of this.#scorers) s.setTask(first, now);
      const placer = new GroupPlacer(this.#pipeline, this.#scorers, first, candidates);
      let i = 0;
      for (; i < tasks.length; i++) {
        const info = placer.pick();
        if (!info) break;
        const t = tasks[i] as Task__Output;
        const next = this.#withStatus(t, info.id, 'ASSIGNED', ASSIGNED_MESSAGE, '', now);
        this.#track(next);
        placer.placed();
        out.push({ old: t, next, assigned: true });
      }
      if (i === tasks.length) continue;
      // Explain from a fresh pass over every node as things now stand.
      this.#pipeline.resetCounts();
      for (const info of candidates) this.#pipeline.process(info);
      const why = this.#pipeline.explain();
      for (; i < tasks.length; i++) this.#refuse(tasks[i] as Task__Output, why, now, out);
      this.#log.debug('no suitable node', { 'service.id': first.service_id, tasks: tasks.length - i, why });
    }
  }

  /** Leaves a task PENDING with the explanation, writing only if it changed. */
  #refuse(t: Task__Output, explanation: string, now: number, out: Decision[]): void {
    const err = noSuitableNode(explanation);
    if (t.status?.err === err && t.status.message === err) return;
    const next = this.#withStatus(t, t.node_id, 'PENDING', err, err, now);
    out.push({ old: t, next, assigned: false });
    this.#track(next);
  }

  #withStatus(
    t: Task__Output,
    nodeId: string,
    state: 'ASSIGNED' | 'PENDING',
    message: string,
    err: string,
    now: number,
  ): Task__Output {
    const seconds = Math.floor(now / 1000);
    return {
      ...t,
      node_id: nodeId,
      status: {
        timestamp: { seconds: String(seconds), nanos: (now - seconds * 1000) * 1_000_000 },
        state,
        message,
        err,
        container_status: t.status?.container_status ?? null,
      },
    };
  }

  /**
   * Writes the decisions in chunks of one store batch, each re-reading its
   * tasks: a task that changed or vanished since the decision keeps its new
   * state and the decision is dropped. A chunk the store refuses is retried
   * one task at a time so that one bad task does not hold up the others.
   * @throws the store's error when it could not commit at all (not leader,
   *   no quorum, aborted); the caller resynchronises.
   */
  async #apply(
    decisions: Decision[],
    signal: AbortSignal,
  ): Promise<{ assigned: number; unschedulable: number; stale: number; failed: number }> {
    const result = { assigned: 0, unschedulable: 0, stale: 0, failed: 0 };
    if (decisions.length === 0) return result;
    type Outcome = 'written' | 'stale' | 'failed';
    const outcomes = new Array<Outcome>(decisions.length).fill('failed');
    const writeRange = (from: number, to: number) => (tx: WriteTx): void => {
      for (let i = from; i < to; i++) {
        const d = decisions[i] as Decision;
        // The update re-reads the task and refuses it (NotFound, Conflict)
        // unless it is still the version the decision saw; reading it here
        // first would only cost a copy of every task.
        try {
          tx.tasks.update({ ...(d.next as Task), meta: d.old.meta });
          outcomes[i] = 'written';
        } catch (err) {
          if (!isConflict(err) && !isNotFound(err)) throw err;
          outcomes[i] = 'stale';
        }
      }
    };

    const chunks: Array<[number, number]> = [];
    for (let i = 0; i < decisions.length; i += this.#chunk) chunks.push([i, Math.min(decisions.length, i + this.#chunk)]);
    const first = await this.#store.batch((b) => {
      for (const [from, to] of chunks) b.update(writeRange(from, to));
    }, { signal });
    const retry: number[] = [];
    for (const f of first.failed) {
      const [from, to] = chunks[f.position] as [number, number];
      for (let i = from; i < to; i++) {
        outcomes[i] = 'failed';
        retry.push(i);
      }
    }
    if (retry.length > 0) {
      const second = await this.#store.batch((b) => {
        for (const i of retry) b.update(writeRange(i, i + 1));
      }, { signal });
      for (const f of second.failed) {
        const i = retry[f.position] as number;
        outcomes[i] = 'failed';
        this.#log.warn('could not write a scheduling decision; the task is tried again on a later pass', {
          'task.id': decisions[i]?.old.id,
          err: errorMessage(f.error),
        });
      }
    }

    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i] as Decision;
      const o = outcomes[i] as Outcome;
      if (o === 'written') {
        if (d.assigned) result.assigned++;
        else result.unschedulable++;
        continue;
      }
      // Put the task back as the decision found it; if it changed, the
      // change's event (still queued) replaces this.
      this.#track(d.old);
      if (o === 'stale') result.stale++;
      else {
        result.failed++;
        this.#dirty = true;
      }
    }
    return result;
  }
}
