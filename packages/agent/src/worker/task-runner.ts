// One task's runner: drives its controller with the step function until the
// task reaches a state it cannot leave on its own, then waits for the
// managers to change the desired state. A desired-state change interrupts the
// step in progress (an abort, so a retry, never a failure).
import { errorMessage, sleep, type Logger, type TaskStatus__Output, type Task__Output } from '@shoal/api';
import type { Controller } from '../exec/executor.js';
import { canProceed, step } from '../exec/step.js';

export interface TaskRunnerOptions {
  /** First retry delay after an aborted or temporary step (default 100 ms), doubling up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  logger: Logger;
  /** Called with every new status, in order. */
  onStatus: (task: Task__Output, status: TaskStatus__Output) => void;
}

export class TaskRunner {
  private readonly life = new AbortController();
  private op = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private task: Task__Output,
    private current: TaskStatus__Output,
    readonly controller: Controller,
    private readonly o: TaskRunnerOptions,
  ) {}

  get status(): TaskStatus__Output {
    return this.current;
  }

  get latest(): Task__Output {
    return this.task;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Takes a newer version of the task; a changed desired state interrupts the current step. */
  update(task: Task__Output): void {
    const changed = task.desired_state !== this.task.desired_state;
    this.task = task;
    if (this.controller.update) {
      this.controller.update(task, this.life.signal).catch((err: unknown) =>
        this.o.logger.debug('controller update failed', { error: errorMessage(err) }),
      );
    }
    if (changed) this.op.abort(new DOMException('the task changed', 'AbortError'));
  }

  /** Stops driving the task (its container is left as it is) and closes the controller. */
  async stop(): Promise<void> {
    this.life.abort(new DOMException('the runner stopped', 'AbortError'));
    await this.loop;
    await this.controller.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    const base = this.o.retryMs ?? 100;
    const max = this.o.maxRetryMs ?? 5000;
    let delay = base;
    while (!this.life.signal.aborted) {
      if (this.op.signal.aborted) this.op = new AbortController();
      const signal = AbortSignal.any([this.life.signal, this.op.signal]);
      const task = this.task;
      const before = this.current;
      if (!canProceed(task, before)) {
        await untilAborted(signal);
        continue;
      }
      const next = await step(this.controller, task, before, signal);
      if (next !== before) {
        delay = base;
        this.current = next;
        this.o.logger.debug('task state changed', { from: before.state, to: next.state, err: next.err || undefined });
        this.o.onStatus(task, next);
        continue;
      }
      if (signal.aborted) continue;
      // Nothing moved although it could have: a temporary failure. Back off.
      await sleep(delay, signal).catch(() => undefined);
      delay = Math.min(delay * 2, max);
    }
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
