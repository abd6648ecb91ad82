// The step function: one forward transition of one task per call, driven by
// the task's desired state and its last observed status. It never moves a
// task backwards; an aborted signal or a temporary error leaves the status
// as it was (the caller tries again), anything else fails the task.
import { errorMessage, type TaskState__Output, type TaskStatus__Output, type Task__Output } from '@shoal/api';
import type { Controller } from './executor.js';
import { isExitError, isRetryable, isTaskPrepared, isTaskStarted } from './errors.js';
import { isShutdownDesired, isTerminal, stateRank, toTimestamp } from './task-state.js';

export interface StepOptions {
  /** The clock for status timestamps (tests pin it). */
  now?: () => Date;
}

/**
 * Whether `step` would do something for this task and status, as opposed to
 * waiting for the managers to change the desired state. A step that returns
 * the status unchanged although this is true was a retry (abort, temporary
 * error): the caller should back off and call again.
 */
export function canProceed(task: Task__Output, status: TaskStatus__Output): boolean {
  const state = status.state;
  if (isShutdownDesired(task.desired_state)) return !isTerminal(state);
  const rank = stateRank(state);
  const desired = stateRank(task.desired_state);
  if (rank > desired) return false;
  if (state === 'PREPARING' || state === 'STARTING' || state === 'RUNNING') return true;
  if (rank >= desired) return false;
  return state === 'NEW' || state === 'PENDING' || state === 'ASSIGNED' || state === 'ACCEPTED' || state === 'READY';
}

/**
 * Makes one forward transition: ASSIGNED → ACCEPTED → PREPARING → READY →
 * STARTING → RUNNING → COMPLETE (or REJECTED before STARTING, FAILED
 * from STARTING on, with `err`); a desired
 * SHUTDOWN shuts the container down → SHUTDOWN. Returns the next status (a
 * new object), or `status` itself when nothing moved (paused at the desired
 * state, or a retry after an abort or a temporary error). Never throws for a
 * controller error: those become the returned status.
 */
export async function step(
  ctl: Controller,
  task: Task__Output,
  status: TaskStatus__Output,
  signal: AbortSignal,
  o: StepOptions = {},
): Promise<TaskStatus__Output> {
  const now = o.now ?? (() => new Date());
  const state = status.state;

  const transition = async (next: TaskState__Output, message: string, withContainer = false): Promise<TaskStatus__Output> => {
    const out: TaskStatus__Output = { ...status, state: next, message, err: '', timestamp: toTimestamp(now()) };
    if (withContainer) out.container_status = (await containerStatus(ctl, signal)) ?? status.container_status;
    return out;
  };

  const fatal = async (err: unknown): Promise<TaskStatus__Output> => {
    if (signal.aborted || isRetryable(err)) return status;
    // Before STARTING nothing ran: the node rejects the task (the orchestrator
    // may place it elsewhere). From STARTING on, the task itself failed.
    let next: TaskState__Output = state;
    if (stateRank(state) < stateRank('STARTING')) next = 'REJECTED';
    else if (!isTerminal(state)) next = 'FAILED';
    const out: TaskStatus__Output = { ...status, state: next, err: errorMessage(err), timestamp: toTimestamp(now()) };
    if (isExitError(err)) {
      const cs = (await containerStatus(ctl, signal)) ?? status.container_status;
      out.container_status = { container_id: cs?.container_id ?? '', pid: cs?.pid ?? 0, exit_code: err.exitCode };
    }
    return out;
  };

  if (isShutdownDesired(task.desired_state)) {
    if (isTerminal(state)) return status;
    try {
      await ctl.shutdown(signal);
    } catch (err) {
      return fatal(err);
    }
    return transition('SHUTDOWN', 'shutdown', true);
  }

  // Way past the desired state: wait for the managers.
  if (stateRank(state) > stateRank(task.desired_state)) return status;

  // These states finish what they started, even past the desired state.
  switch (state) {
    case 'PREPARING':
      try {
        await ctl.prepare(signal);
      } catch (err) {
        if (!isTaskPrepared(err)) return fatal(err);
      }
      return transition('READY', 'prepared');
    case 'STARTING':
      try {
        await ctl.start(signal);
      } catch (err) {
        if (!isTaskStarted(err)) return fatal(err);
      }
      return transition('RUNNING', 'started', true);
    case 'RUNNING':
      try {
        await ctl.wait(signal);
      } catch (err) {
        return fatal(err);
      }
      return transition('COMPLETE', 'finished', true);
    default:
      break;
  }

  // Pause states: move only while the desired state is further on.
  if (stateRank(state) >= stateRank(task.desired_state)) return status;
  switch (state) {
    case 'NEW':
    case 'PENDING':
    case 'ASSIGNED':
      return transition('ACCEPTED', 'accepted');
    case 'ACCEPTED':
      return transition('PREPARING', 'preparing');
    case 'READY':
      return transition('STARTING', 'starting');
    default:
      return status;
  }
}

async function containerStatus(ctl: Controller, signal: AbortSignal): Promise<TaskStatus__Output['container_status'] | undefined> {
  if (!ctl.containerStatus || signal.aborted) return undefined;
  try {
    return await ctl.containerStatus(signal);
  } catch {
    return undefined;
  }
}
