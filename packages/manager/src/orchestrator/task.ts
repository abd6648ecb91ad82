// What the orchestrators share: making a task for a service, telling whether a
// task still matches its service's spec, task-state order, service modes.
import { isDeepStrictEqual } from 'node:util';
import { TASK_STATE_RANK } from '@shoal/api';
import type {
  Cluster__Output,
  Node__Output,
  Service__Output,
  Task,
  TaskSpec__Output,
  TaskState__Output,
  Task__Output,
} from '@shoal/api';
import { newObjectId } from '../store/index.js';

const STATE_RANK = TASK_STATE_RANK;

/** A task state's place in the forward order; `<` between ranks is `<` between states. */
export function stateRank(state: TaskState__Output | null | undefined): number {
  return STATE_RANK[state ?? 'NEW'];
}

/** The observed state of a task. */
export const observed = (t: Task__Output): TaskState__Output => t.status?.state ?? 'NEW';

/** Whether the task has stopped (its observed state is past RUNNING). */
export const hasStopped = (t: Task__Output): boolean => stateRank(observed(t)) > STATE_RANK.RUNNING;

/**
 * Whether the managers still want the task to run: its desired state is at
 * most RUNNING, or COMPLETE for a job's task. SHUTDOWN and later mean it is
 * on its way out.
 */
export const isDesiredLive = (t: Task__Output): boolean => stateRank(t.desired_state) <= STATE_RANK.COMPLETE;

export type ServiceMode = 'replicated' | 'global' | 'replicated_job' | 'global_job';

/** The service's mode, or undefined for a service without one. */
export function serviceMode(s: Service__Output | null | undefined): ServiceMode | undefined {
  const spec = s?.spec;
  if (!spec) return undefined;
  if (spec.mode) return spec.mode;
  if (spec.replicated) return 'replicated';
  if (spec.global) return 'global';
  if (spec.replicated_job) return 'replicated_job';
  if (spec.global_job) return 'global_job';
  return undefined;
}

export const isJobMode = (m: ServiceMode | undefined): boolean => m === 'replicated_job' || m === 'global_job';

/** A node that cannot keep tasks: gone, down or draining. */
export function invalidNode(n: Node__Output | null | undefined): boolean {
  return !n || n.status?.state === 'DOWN' || n.spec?.availability === 'DRAIN';
}

/**
 * Whether a node change can matter to placement: created, removed, or a
 * change of spec (availability, labels), role, state or description — not a
 * bare status message or address.
 */
export function nodeChangeMatters(kind: 'create' | 'update' | 'delete', n: Node__Output, old?: Node__Output): boolean {
  if (kind !== 'update' || !old) return true;
  return (
    old.role !== n.role ||
    old.status?.state !== n.status?.state ||
    !isDeepStrictEqual(old.spec, n.spec) ||
    !isDeepStrictEqual(old.description, n.description)
  );
}

/** Milliseconds of a protobuf Duration (0 when unset). */
export function durationMs(d: { seconds?: string | number | null; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1_000_000);
}

/** Milliseconds since the epoch of a protobuf Timestamp, or undefined when unset. */
export function timestampMs(ts: { seconds?: string | number | null; nanos?: number | null } | null | undefined): number | undefined {
  if (!ts) return undefined;
  return Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}

/** A protobuf Timestamp for `ms` since the epoch. */
export function toTimestamp(ms: number): { seconds: string; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** When the task last changed state: its status timestamp, else its creation. */
export function taskTimeMs(t: Task__Output): number {
  return timestampMs(t.status?.timestamp) ?? timestampMs(t.meta?.created_at) ?? 0;
}

/** The job iteration a service is on: its spec version (0 before the first). */
export const jobIteration = (s: Service__Output): string => s.spec_version?.index ?? '0';

export interface NewTaskOptions {
  /** The clock reading for the status timestamp (default: now). */
  now?: number;
}

/**
 * A new task for `service`: in slot `target` (a number, replicated modes) or
 * on node `target` (a string, global modes). It starts NEW, desired RUNNING
 * (COMPLETE for jobs, which run to completion), carrying the service's task
 * spec, spec version and endpoint spec. A service without a log driver gets
 * the cluster's default one.
 */
export function newTask(
  service: Service__Output,
  target: number | string,
  cluster?: Cluster__Output | null,
  options: NewTaskOptions = {},
): Task {
  const spec = service.spec;
  const taskSpec: TaskSpec__Output | null = spec?.task ? { ...spec.task } : null;
  const defaultLog = cluster?.spec?.task_defaults?.log_driver;
  if (taskSpec && !taskSpec.log_driver && defaultLog) taskSpec.log_driver = defaultLog;
  const mode = serviceMode(service);
  const job = isJobMode(mode);
  return {
    id: newObjectId(),
    service_id: service.id,
    service_annotations: spec?.annotations ?? null,
    spec: taskSpec,
    spec_version: service.spec_version,
    slot: typeof target === 'number' ? target : 0,
    node_id: typeof target === 'string' ? target : '',
    status: { state: 'NEW', message: 'created', timestamp: toTimestamp(options.now ?? Date.now()) },
    desired_state: job ? 'COMPLETE' : 'RUNNING',
    endpoint: { spec: spec?.endpoint ?? null },
    job_iteration: job ? { index: jobIteration(service) } : null,
  };
}

/**
 * Whether a task no longer matches its service's spec and must be replaced:
 * its task spec or endpoint spec differs. A task whose spec version equals
 * the service's is clean without comparing. A log driver the task got from
 * the cluster's defaults (the service names none) does not make it dirty.
 */
export function isTaskDirty(service: Service__Output, task: Task__Output): boolean {
  const sv = service.spec_version?.index;
  if (sv !== undefined && sv !== '0' && sv === task.spec_version?.index) return false;
  const want = service.spec?.task ?? null;
  let have = task.spec;
  if (want && have && !want.log_driver && have.log_driver) have = { ...have, log_driver: null };
  if (!isDeepStrictEqual(want, have)) return true;
  const wantEndpoint = service.spec?.endpoint ?? null;
  const haveEndpoint = task.endpoint?.spec ?? null;
  return task.endpoint !== null && !isDeepStrictEqual(wantEndpoint, haveEndpoint);
}

/** The cluster object (there is one), if it exists yet. */
export function findCluster(clusters: Cluster__Output[]): Cluster__Output | null {
  return clusters[0] ?? null;
}
