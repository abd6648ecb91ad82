// Task-state order, as the dispatcher needs it: which tasks a node is told
// about, and that a reported status never moves a task backwards.
import type { TaskState__Output, Task__Output } from '@shoal/api';

const RANK: Readonly<Record<TaskState__Output, number>> = {
  NEW: 0,
  PENDING: 64,
  ASSIGNED: 192,
  ACCEPTED: 256,
  PREPARING: 320,
  READY: 384,
  STARTING: 448,
  RUNNING: 512,
  COMPLETE: 576,
  SHUTDOWN: 640,
  FAILED: 704,
  REJECTED: 768,
  ORPHANED: 800,
  REMOVE: 832,
};

/**
 * A state's place in the forward order; `<` between ranks is `<` between
 * states. Unknown values (a number from a newer agent) rank by their number.
 */
export function stateRank(state: string | number | null | undefined): number {
  if (typeof state === 'number') return state;
  return RANK[(state ?? 'NEW') as TaskState__Output] ?? 0;
}

export const ASSIGNED_RANK = RANK.ASSIGNED;
export const RUNNING_RANK = RANK.RUNNING;

/** The task's observed state. */
export const observedRank = (t: Task__Output): number => stateRank(t.status?.state);

/** Whether the task has stopped (its observed state is past RUNNING). */
export const hasStopped = (t: Task__Output): boolean => observedRank(t) > RUNNING_RANK;
