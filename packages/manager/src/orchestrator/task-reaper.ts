// The task reaper: keeps each slot's history (each node's, for global
// services) to the cluster's task_history_retention_limit (default 5),
// deleting the oldest stopped tasks first and never one that runs or is
// still wanted; and deletes tasks marked for removal (desired REMOVE, from
// scale-down or a removed service) once they have stopped or never reached
// a node.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Cluster__Output, Logger, Task__Output } from '@shoal/api';
import { all, byNode, bySlot } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent } from '../store/index.js';
import { runLoop } from '../store/run-loop.js';
import { hasStopped, isDesiredLive, observed, stateRank, taskTimeMs, timestampMs } from './task.js';

export const DEFAULT_TASK_HISTORY_LIMIT = 5;

export interface TaskReaperDeps {
  logger?: Logger;
}

/** The history limit a cluster sets: its orchestration config, or the default when it has none. */
export function taskHistoryLimit(cluster: Cluster__Output | null | undefined): number {
  const orchestration = cluster?.spec?.orchestration;
  return orchestration ? Number(orchestration.task_history_retention_limit) : DEFAULT_TASK_HISTORY_LIMIT;
}

const SEP = '\u0000';
const tupleOf = (t: Task__Output): string => [t.service_id, t.slot, t.slot === '0' ? t.node_id : ''].join(SEP);

/** Oldest first: by status time, then creation time, then id. */
function oldestFirst(a: Task__Output, b: Task__Output): number {
  return (
    taskTimeMs(a) - taskTimeMs(b) ||
    (timestampMs(a.meta?.created_at) ?? 0) - (timestampMs(b.meta?.created_at) ?? 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Whether a task marked for removal can be deleted now. */
function removable(t: Task__Output, nodeExists: boolean): boolean {
  return hasStopped(t) || t.node_id === '' || !nodeExists || stateRank(observed(t)) < stateRank('ASSIGNED');
}

export class TaskReaper {
  readonly #store: MemoryStore;
  readonly #logger: Logger;
  #limit = DEFAULT_TASK_HISTORY_LIMIT;
  readonly #dirty = new Set<string>();
  readonly #toRemove = new Set<string>();
  readonly #removeOnNode = new Set<string>();
  /** The limit went down: every slot's history is checked again. */
  #reapAllOnNextTick = false;

  constructor(store: MemoryStore, deps: TaskReaperDeps = {}) {
    this.#store = store;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'task-reaper' });
  }

  /** Reaps until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await runLoop(
      this.#store,
      signal,
      { tables: ['tasks', 'clusters', 'nodes'] },
      { init: (tx) => this.#init(tx), onEvent: (e) => this.#onEvent(e), tick: () => this.#tick() },
      this.#logger,
    );
  }

  #init(tx: ReadTx): void {
    this.#limit = taskHistoryLimit(tx.clusters.find(all)[0]);
    for (const t of tx.tasks.find(all)) {
      if (t.service_id === '') continue;
      if (t.desired_state === 'REMOVE') this.#toRemove.add(t.id);
      else this.#dirty.add(tupleOf(t));
    }
  }

  #onEvent(e: StoreChangeEvent): void {
    switch (e.table) {
      case 'clusters':
        if (e.kind !== 'delete') {
          const before = this.#limit;
          this.#limit = taskHistoryLimit(e.object);
          if (this.#limit < before) this.#reapAllOnNextTick = true;
        }
        return;
      case 'nodes':
        // Tasks marked for removal on a node that is gone can go now.
        if (e.kind === 'delete') this.#removeOnNode.add(e.object.id);
        return;
      case 'tasks': {
        const t = e.object;
        if (e.kind === 'delete' || t.service_id === '') return;
        if (t.desired_state === 'REMOVE') this.#toRemove.add(t.id);
        else if (e.kind === 'create' || hasStopped(t) || !isDesiredLive(t)) this.#dirty.add(tupleOf(t));
        return;
      }
      default:
        return;
    }
  }

  async #tick(): Promise<void> {
    const doomed = this.#store.view((tx) => {
      const out = new Set<string>();
      if (this.#reapAllOnNextTick) {
        this.#reapAllOnNextTick = false;
        for (const t of tx.tasks.find(all)) if (t.service_id !== '') this.#dirty.add(tupleOf(t));
      }
      for (const nodeId of this.#removeOnNode) for (const t of tx.tasks.find(byNode(nodeId))) if (t.desired_state === 'REMOVE') this.#toRemove.add(t.id);
      this.#removeOnNode.clear();
      for (const id of this.#toRemove) {
        const t = tx.tasks.get(id);
        if (!t || t.desired_state !== 'REMOVE') {
          this.#toRemove.delete(id);
          continue;
        }
        if (removable(t, t.node_id !== '' && tx.nodes.get(t.node_id) !== undefined)) {
          out.add(id);
          this.#toRemove.delete(id);
        }
      }
      if (this.#limit >= 0) for (const tuple of this.#dirty) for (const id of this.#excess(tx, tuple)) out.add(id);
      this.#dirty.clear();
      return [...out];
    });
    if (doomed.length === 0) return;
    const result = await this.#store.batch((b) => {
      for (const id of doomed) {
        b.update((tx) => {
          if (tx.tasks.get(id)) tx.tasks.delete(id);
        });
      }
    });
    for (const f of result.failed) this.#logger.warn('deleting an old task failed', { err: errorMessage(f.error) });
  }

  /** The tasks of one slot (or one global service's node) beyond the history limit, oldest first. */
  #excess(tx: ReadTx, tuple: string): string[] {
    const [serviceId = '', slot = '0', nodeId = ''] = tuple.split(SEP);
    const service = tx.services.get(serviceId);
    if (!service) return [];
    const tasks = (slot !== '0' ? tx.tasks.find(bySlot(serviceId, slot)) : tx.tasks.find(byNode(nodeId)))
      .filter((t) => t.service_id === serviceId && t.slot === slot && t.desired_state !== 'REMOVE');
    let count = tasks.length;
    if (count <= this.#limit) return [];
    const out: string[] = [];
    for (const t of tasks.sort(oldestFirst)) {
      if (count <= this.#limit) break;
      if (isDesiredLive(t) || !hasStopped(t)) continue; // never a task that runs or is wanted
      out.push(t.id);
      count--;
    }
    return out;
  }
}
