export { Scheduler, noSuitableNode, systemSchedulerClock } from './scheduler.js';
export type { SchedulerClock, SchedulerDeps, SchedulingPass } from './scheduler.js';
export { Pipeline } from './pipeline.js';
export {
  AvailabilityFilter,
  ConstraintFilter,
  HostPortFilter,
  MaxReplicasFilter,
  PlatformFilter,
  ReadyFilter,
  ResourceFilter,
  defaultFilters,
} from './filters.js';
export type { Filter } from './filters.js';
export { FailureScorer, ServiceSpreadScorer, TotalTasksScorer, defaultScorers, scoreCard } from './scorers.js';
export type { ScoreCard, Scorer } from './scorers.js';
export { NodeInfo } from './node-info.js';
export { rankNodes } from './explain.js';
export type { NodeRank } from './explain.js';
export { GroupPlacer, NodeHeap } from './placement.js';
export { benchSchedule } from './bench.js';
export type { BenchScheduleOptions, BenchScheduleResult } from './bench.js';
export { parseConstraints } from '../constraint/index.js';
