// The leader-only components of a manager, built fresh each time it starts
// leading: the orchestrators share one restart supervisor, as in swarmkit.
import type { Logger } from '@shoal/api';
import {
  ConstraintEnforcer,
  GlobalOrchestrator,
  JobsOrchestrator,
  ReplicatedOrchestrator,
  RestartSupervisor,
  TaskReaper,
} from '@shoal/manager/orchestrator/index';
import { Scheduler } from '@shoal/manager/scheduler/index';
import type { SchedulingPass } from '@shoal/manager/scheduler/index';
import { Allocator } from '@shoal/manager/allocator/index';
import type { MemoryStore } from '@shoal/manager/store/index';
import type { LeaderComponent } from '@shoal/manager/swarm/manager';

export function leaderComponents(
  store: MemoryStore,
  logger: Logger,
  extra: LeaderComponent[] = [],
  onSchedulingPass?: (p: SchedulingPass) => void,
): LeaderComponent[] {
  const log = (name: string): Logger => logger.child({ component: name });
  const restarts = new RestartSupervisor(store, { logger: log('restart') });
  return [
    restarts,
    new ReplicatedOrchestrator(store, { restarts, logger: log('orchestrator.replicated') }),
    new GlobalOrchestrator(store, { restarts, logger: log('orchestrator.global') }),
    new JobsOrchestrator(store, { restarts, logger: log('orchestrator.jobs') }),
    new TaskReaper(store, { logger: log('taskreaper') }),
    new ConstraintEnforcer(store, { logger: log('constraintenforcer') }),
    new Allocator(store, { logger: log('allocator') }),
    new Scheduler(store, { logger: log('scheduler'), ...(onSchedulingPass ? { onPass: onSchedulingPass } : {}) }),
    ...extra,
  ];
}
