// Task-state order and the few task facts the scheduler reads. (The
// orchestrator has its own copy: components share nothing but the store.)
import { TASK_STATE_RANK } from '@shoal/api';
import type { PortConfig__Output, TaskState__Output, Task__Output } from '@shoal/api';

const RANK = TASK_STATE_RANK;

export const rank = (s: TaskState__Output | null | undefined): number => RANK[s ?? 'NEW'];
export const observedRank = (t: Task__Output): number => rank(t.status?.state);

export const PENDING = RANK.PENDING;
export const ASSIGNED = RANK.ASSIGNED;
export const RUNNING = RANK.RUNNING;
export const COMPLETE = RANK.COMPLETE;

/** The task wants a node: observed PENDING and still meant to run (RUNNING, or COMPLETE for jobs). */
export const wantsNode = (t: Task__Output): boolean => observedRank(t) === PENDING && rank(t.desired_state) <= COMPLETE;

/** The task holds a node's resources: placed and not yet stopped. */
export const occupiesNode = (t: Task__Output): boolean => {
  const r = observedRank(t);
  return t.node_id !== '' && r >= ASSIGNED && r <= RUNNING;
};

/** Reserved CPU (nano) and memory (bytes) of a task; 0 when unset. */
export function reservations(t: Task__Output): { cpu: number; memory: number } {
  const r = t.spec?.resources?.reservations;
  return { cpu: Number(r?.nano_cpus ?? 0), memory: Number(r?.memory_bytes ?? 0) };
}

/**
 * The host-mode ports a task publishes, as "tcp/8080" keys. Ports the engine
 * picks itself (published 0) never conflict, so they are left out. The
 * allocated endpoint wins over the spec when the allocator filled it.
 */
export function hostPorts(t: Task__Output): string[] {
  const allocated = t.endpoint?.ports ?? [];
  const ports: PortConfig__Output[] = allocated.length > 0 ? allocated : (t.endpoint?.spec?.ports ?? []);
  const out: string[] = [];
  for (const p of ports) {
    if (p.publish_mode === 'HOST' && p.published_port !== 0) out.push(`${p.protocol.toLowerCase()}/${p.published_port}`);
  }
  return out;
}
