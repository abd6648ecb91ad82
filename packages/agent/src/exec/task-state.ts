// Task-state order and the small helpers the agent needs around it.
import { TASK_STATE_RANK } from '@shoal/api';
import type { TaskState__Output, TaskStatus__Output } from '@shoal/api';

type Timestamp = NonNullable<TaskStatus__Output['timestamp']>;

const STATE_RANK = TASK_STATE_RANK;

/** A task state's place in the forward order; `<` between ranks is `<` between states. */
export function stateRank(state: TaskState__Output | null | undefined): number {
  return STATE_RANK[state ?? 'NEW'];
}

/** Whether a state is past RUNNING: the task's process is gone for good. */
export const isTerminal = (state: TaskState__Output): boolean => stateRank(state) > STATE_RANK.RUNNING;

/** Whether the managers asked the task to stop (desired SHUTDOWN or later). */
export const isShutdownDesired = (desired: TaskState__Output): boolean => stateRank(desired) >= STATE_RANK.SHUTDOWN;

export function toTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A complete status in the decoded (`__Output`) form. */
export function taskStatus(state: TaskState__Output, fields: Partial<Omit<TaskStatus__Output, 'state'>> = {}): TaskStatus__Output {
  return {
    timestamp: fields.timestamp ?? null,
    state,
    message: fields.message ?? '',
    err: fields.err ?? '',
    container_status: fields.container_status ?? null,
  };
}
