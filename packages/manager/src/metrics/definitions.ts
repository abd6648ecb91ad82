// The names, help texts, labels and buckets of every Shoal metric, in one
// place: the manager and agent collectors build on them, and the alert rules
// and dashboard under deploy/ use the same names (the tests check that).
// Names follow Prometheus conventions: shoal_<subsystem>_<name>_<unit>, base
// units, `_total` on counters; label values are lower case, as swarm prints.
import type { NodeRole__Output, NodeSpec__Output, NodeStatus__Output, TaskState__Output } from '@shoal/api';

export interface MetricDefinition<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
}

export interface HistogramDefinition<L extends string = string> extends MetricDefinition<L> {
  readonly buckets: readonly number[];
}

const def = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): MetricDefinition<L> => ({
  name,
  help,
  labelNames,
});

// Latencies from under a millisecond (a proposal on one member) to seconds (a
// pass over 100,000 tasks); the 5 s failover target sits inside the range.
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export const SERVICE_LABELS = ['service_id', 'service_name', 'service_mode'] as const;
export type ServiceLabel = (typeof SERVICE_LABELS)[number];

/** Manager side: figures computed from the cluster store at scrape time. */
export const SERVICE_DESIRED_REPLICAS = def(
  'shoal_service_desired_replicas',
  'Replicas the service should have running: spec replicas (replicated), tasks wanted on eligible nodes (global), unfinished tasks of the current run (jobs).',
  SERVICE_LABELS,
);
export const SERVICE_RUNNING_REPLICAS = def(
  'shoal_service_running_replicas',
  'Tasks of the service that are running, still wanted, and on a node that is not down (what `service ls` shows).',
  SERVICE_LABELS,
);
export const SERVICE_TASKS = def(
  'shoal_service_tasks',
  'Tasks of the service the store holds (history included), by observed state.',
  [...SERVICE_LABELS, 'state'] as const,
);
export const NODES = def('shoal_nodes', 'Nodes of the swarm, by status, availability and role.', [
  'state',
  'availability',
  'role',
] as const);

/** Manager side: this manager's Raft member. */
export const RAFT_LEADER = def('shoal_raft_leader', '1 when this manager is the Raft leader, else 0.');
export const RAFT_TERM = def('shoal_raft_term', 'The Raft term this manager is in.');
export const RAFT_COMMIT_INDEX = def('shoal_raft_commit_index', 'The highest Raft log index this manager knows committed.');
export const RAFT_APPLIED_INDEX = def('shoal_raft_applied_index', 'The highest Raft log index applied to this manager\'s store.');
export const RAFT_PROPOSAL_DURATION: HistogramDefinition = {
  ...def('shoal_raft_proposal_duration_seconds', 'Time from proposing a store change to its commit and apply on this manager.'),
  buckets: LATENCY_BUCKETS_SECONDS,
};

/** Manager side: leader-only components. */
export const SCHEDULER_PASS_DURATION: HistogramDefinition = {
  ...def('shoal_scheduler_pass_duration_seconds', 'Time one scheduling pass took, deciding and writing its decisions.'),
  buckets: LATENCY_BUCKETS_SECONDS,
};
export const DISPATCHER_HEARTBEATS = def('shoal_dispatcher_heartbeats_total', 'Node heartbeats this manager\'s dispatcher received.');

/** Agent side. */
export const AGENT_TASKS = def('shoal_agent_tasks', 'Tasks this node\'s agent holds, by observed state.', ['state'] as const);
export const AGENT_CONTAINER_STARTS = def('shoal_agent_container_starts_total', 'Containers this node\'s agent started for tasks.');
export const AGENT_CONTAINER_START_FAILURES = def(
  'shoal_agent_container_start_failures_total',
  'Attempts to start a task\'s container that failed on this node.',
);

/** Every definition, for tests and documentation. */
export const ALL_METRICS: readonly MetricDefinition[] = [
  SERVICE_DESIRED_REPLICAS,
  SERVICE_RUNNING_REPLICAS,
  SERVICE_TASKS,
  NODES,
  RAFT_LEADER,
  RAFT_TERM,
  RAFT_COMMIT_INDEX,
  RAFT_APPLIED_INDEX,
  RAFT_PROPOSAL_DURATION,
  SCHEDULER_PASS_DURATION,
  DISPATCHER_HEARTBEATS,
  AGENT_TASKS,
  AGENT_CONTAINER_STARTS,
  AGENT_CONTAINER_START_FAILURES,
];

/** Task states in their forward order, as the `state` label spells them. */
export const TASK_STATES: readonly TaskState__Output[] = [
  'NEW',
  'PENDING',
  'ASSIGNED',
  'ACCEPTED',
  'PREPARING',
  'READY',
  'STARTING',
  'RUNNING',
  'COMPLETE',
  'SHUTDOWN',
  'FAILED',
  'REJECTED',
  'ORPHANED',
  'REMOVE',
];
export const NODE_STATES: readonly NodeStatus__Output['state'][] = ['UNKNOWN', 'DOWN', 'READY', 'DISCONNECTED'];
export const NODE_AVAILABILITIES: readonly NodeSpec__Output['availability'][] = ['ACTIVE', 'PAUSE', 'DRAIN'];
export const NODE_ROLES: readonly NodeRole__Output[] = ['WORKER', 'MANAGER'];

/** A proto enum name as a label value: `RUNNING` → `running`. */
export const labelValue = (enumName: string): string => enumName.toLowerCase();
