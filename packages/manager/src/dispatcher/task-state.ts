// Task-state order, as the dispatcher needs it: which tasks a node is told
// about, and that a reported status never moves a task backwards.
import { TASK_STATE_RANK } from '@shoal/api';
import type { TaskState__Output, Task__Output } from '@shoal/api';

const RANK = TASK_STATE_RANK;

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
