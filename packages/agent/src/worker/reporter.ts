// Task status reporting, batched: the worker reports every change at once and
// never waits; the batcher keeps only each task's newest status and sends
// what is pending in one call whenever a sink (a live dispatcher session) is
// attached. What a failed send carried stays pending for the next sink.
import { errorMessage, nopLogger, type Logger, type TaskStatus__Output } from '@shoal/api';

/** Where the worker reports task status changes. Must not block or throw. */
export interface StatusReporter {
  report(taskId: string, status: TaskStatus__Output): void;
}

export interface TaskStatusUpdate {
  task_id: string;
  status: TaskStatus__Output;
}

/** Sends one batch to the managers; throws when it could not. */
export type StatusSink = (updates: TaskStatusUpdate[], signal: AbortSignal) => Promise<void>;

export interface StatusBatcherOptions {
  /** At most this many updates per call (default 1000). */
  maxBatch?: number;
  /** How long to gather updates before a send (default 10 ms). */
  lingerMs?: number;
  logger?: Logger;
}

export class StatusBatcher implements StatusReporter {
  private readonly pending = new Map<string, TaskStatus__Output>();
  private sink: { send: StatusSink; signal: AbortSignal } | undefined;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly log: Logger;

  constructor(o: StatusBatcherOptions = {}) {
    this.maxBatch = o.maxBatch ?? 1000;
    this.lingerMs = o.lingerMs ?? 10;
    this.log = o.logger ?? nopLogger;
  }

  report(taskId: string, status: TaskStatus__Output): void {
    this.pending.set(taskId, status);
    this.schedule();
  }

  /** How many updates wait to be sent. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends through `send` from now on, until `signal` aborts or detach(). A
   * failed send detaches the sink (the session is broken) and keeps the updates.
   */
  attach(send: StatusSink, signal: AbortSignal): void {
    this.sink = { send, signal };
    signal.addEventListener('abort', () => this.detach(send), { once: true });
    this.schedule();
  }

  detach(send?: StatusSink): void {
    if (!send || this.sink?.send === send) this.sink = undefined;
  }

  /** Resolves once everything pending now was sent, or when no sink is attached. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.sink && this.pending.size > 0) {
      this.flushing ??= this.sendOnce().finally(() => (this.flushing = undefined));
      await this.flushing;
    }
  }

  private schedule(): void {
    if (!this.sink || this.pending.size === 0 || this.timer || this.flushing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.lingerMs);
  }

  private async sendOnce(): Promise<void> {
    const sink = this.sink;
    if (!sink) return;
    const batch: TaskStatusUpdate[] = [];
    for (const [task_id, status] of this.pending) {
      batch.push({ task_id, status });
      if (batch.length >= this.maxBatch) break;
    }
    try {
      await sink.send(batch, sink.signal);
      // Drop only what was sent: a newer status that came in meanwhile stays.
      for (const u of batch) if (this.pending.get(u.task_id) === u.status) this.pending.delete(u.task_id);
    } catch (err) {
      if (!sink.signal.aborted) this.log.warn('sending task status failed; kept for the next session', { error: errorMessage(err), count: batch.length });
      this.detach(sink.send);
    }
  }
}
