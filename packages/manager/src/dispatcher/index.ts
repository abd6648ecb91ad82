export {
  DEFAULT_ASSIGNMENT_BATCH_LIMIT,
  DEFAULT_BATCH_INTERVAL_MS,
  DEFAULT_GRACE_MULTIPLIER,
  DEFAULT_HEARTBEAT_PERIOD_MS,
  DEFAULT_MAX_STATUS_BATCH,
  Dispatcher,
  peerHost,
} from './dispatcher.js';
export type { DispatcherCall, DispatcherEvent, DispatcherIdentity, DispatcherOptions, DispatcherStats } from './dispatcher.js';
export { AssignmentSet, isAssignedTo } from './assignments.js';
export type { DependencyKind, DependencyLookup } from './assignments.js';
export { systemClock } from '../clock/clock.js';
export type { Clock } from '../clock/clock.js';
