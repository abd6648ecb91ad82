// What one node is told: its tasks (and the secrets and configs they use), as
// a set that records the changes since they were last taken. Rules follow
// swarmkit's assignment set: a node sees its tasks once the scheduler has
// assigned them; a change the agent itself reported (status only) is not
// echoed back; secrets and configs go out with the first task that needs
// them and are withdrawn when the last such task stops.
import { isDeepStrictEqual } from 'node:util';
import type { AssignmentChange, Config__Output, Secret__Output, Task__Output } from '@shoal/api';
import { ASSIGNED_RANK, hasStopped, observedRank } from './task-state.js';

/**
 * Whether `t` belongs in the assignments of node `nodeId`: it is on that
 * node, has been assigned (status ASSIGNED or later), and is not a task the
 * managers want removed that has already stopped.
 */
export function isAssignedTo(nodeId: string, t: Task__Output): boolean {
  if (t.node_id !== nodeId || observedRank(t) < ASSIGNED_RANK) return false;
  return !(t.desired_state === 'REMOVE' && hasStopped(t));
}

/** The two tasks differ only in what the agent reports (status) or the store keeps (meta). */
function equalForAgent(a: Task__Output, b: Task__Output): boolean {
  return isDeepStrictEqual({ ...a, status: null, meta: null }, { ...b, status: null, meta: null });
}

export type DependencyKind = 'secret' | 'config';

/** Reads a secret or config from the store (the current state). */
export type DependencyLookup = (kind: DependencyKind, id: string) => Secret__Output | Config__Output | undefined;

function dependencies(t: Task__Output): Array<{ kind: DependencyKind; id: string }> {
  const c = t.spec?.container;
  return [
    ...(c?.secrets ?? []).map((s) => ({ kind: 'secret' as const, id: s.secret_id })),
    ...(c?.configs ?? []).map((s) => ({ kind: 'config' as const, id: s.config_id })),
  ].filter((d) => d.id !== '');
}

export class AssignmentSet {
  readonly #nodeId: string;
  readonly #lookup: DependencyLookup;
  readonly #tasks = new Map<string, Task__Output>();
  /** `kind/id` of each secret or config sent → the tasks that use it. */
  readonly #users = new Map<string, Set<string>>();
  #changes = new Map<string, AssignmentChange>();

  constructor(nodeId: string, lookup: DependencyLookup) {
    this.#nodeId = nodeId;
    this.#lookup = lookup;
  }

  /** Tasks in the set. */
  get taskCount(): number {
    return this.#tasks.size;
  }

  /** Changes recorded and not yet taken. */
  get pending(): number {
    return this.#changes.size;
  }

  /** Whether the task is in the set. */
  has(taskId: string): boolean {
    return this.#tasks.has(taskId);
  }

  /**
   * Brings the set in line with a task's current form (created or updated):
   * adds, updates or removes it. Returns whether that recorded a change for
   * the node.
   */
  apply(t: Task__Output): boolean {
    if (!isAssignedTo(this.#nodeId, t)) return this.remove(t.id);
    const old = this.#tasks.get(t.id);
    if (old) {
      // ASSIGNED and earlier are the managers' states: always send those.
      if (equalForAgent(old, t) && observedRank(t) > ASSIGNED_RANK) {
        this.#tasks.set(t.id, t);
        return hasStopped(t) ? this.#release(t) : false;
      }
    } else if (!hasStopped(t)) {
      this.#addDependencies(t);
    }
    this.#tasks.set(t.id, t);
    this.#changes.set(`task/${t.id}`, { assignment: { task: t }, action: 'UPDATE' });
    return true;
  }

  /** Withdraws a task (deleted, or no longer the node's). Returns whether it was in the set. */
  remove(taskId: string): boolean {
    const t = this.#tasks.get(taskId);
    if (!t) return false;
    this.#tasks.delete(taskId);
    this.#changes.set(`task/${taskId}`, { assignment: { task: { id: taskId } }, action: 'REMOVE' });
    this.#release(t);
    return true;
  }

  /** The changes recorded since the last call, and forgets them. */
  take(): AssignmentChange[] {
    const out = [...this.#changes.values()];
    this.#changes = new Map();
    return out;
  }

  #addDependencies(t: Task__Output): void {
    for (const d of dependencies(t)) {
      const key = `${d.kind}/${d.id}`;
      let users = this.#users.get(key);
      if (!users) {
        const obj = this.#lookup(d.kind, d.id);
        // A dependency that does not exist yet is left for the agent to report.
        if (!obj) continue;
        this.#users.set(key, (users = new Set()));
        this.#changes.set(key, {
          assignment: d.kind === 'secret' ? { secret: obj } : { config: obj },
          action: 'UPDATE',
        });
      }
      users.add(t.id);
    }
  }

  /** Releases the task's dependencies; withdraws those no task uses any more. */
  #release(t: Task__Output): boolean {
    let changed = false;
    for (const d of dependencies(t)) {
      const key = `${d.kind}/${d.id}`;
      const users = this.#users.get(key);
      if (!users?.delete(t.id) || users.size > 0) continue;
      this.#users.delete(key);
      this.#changes.set(key, {
        assignment: d.kind === 'secret' ? { secret: { id: d.id } } : { config: { id: d.id } },
        action: 'REMOVE',
      });
      changed = true;
    }
    return changed;
  }
}
