export { ReplicatedOrchestrator, scaleDownOrder } from './replicated.js';
export type { OrchestratorDeps } from './replicated.js';
export { GlobalOrchestrator, nodeFit, serviceConstraints } from './global.js';
export type { NodeFit } from './global.js';
export { JobsOrchestrator } from './jobs.js';
export {
  RestartSupervisor,
  DEFAULT_OLD_TASK_TIMEOUT_MS,
  DEFAULT_ORPHAN_GRACE_MS,
  DEFAULT_RESTART_DELAY_MS,
} from './restart-supervisor.js';
export type { RestartReason, RestartSupervisorOptions } from './restart-supervisor.js';
export { TaskReaper, DEFAULT_TASK_HISTORY_LIMIT, taskHistoryLimit } from './task-reaper.js';
export type { TaskReaperDeps } from './task-reaper.js';
export { ConstraintEnforcer, whyNoncompliant } from './constraint-enforcer.js';
export type { ConstraintEnforcerDeps } from './constraint-enforcer.js';
export { ManualClock, systemClock } from '../clock/clock.js';
export type { Clock } from '../clock/clock.js';
export {
  newTask,
  isTaskDirty,
  invalidNode,
  serviceMode,
  stateRank,
  isDesiredLive,
  hasStopped,
  jobIteration,
} from './task.js';
export type { NewTaskOptions, ServiceMode } from './task.js';
