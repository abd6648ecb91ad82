import type { TaskState__Output } from './gen/index.js';

/**
 * Task states in their forward order (the proto's numbers): a task only ever
 * moves to a higher rank. Shared by the managers' components and the agent.
 */
export const TASK_STATE_RANK: Readonly<Record<TaskState__Output, number>> = {
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
 * states. Unset is NEW; a number (a state from a newer peer) ranks as itself.
 */
export function taskStateRank(state: string | number | null | undefined): number {
  if (typeof state === 'number') return state;
  return TASK_STATE_RANK[(state ?? 'NEW') as TaskState__Output] ?? 0;
}
