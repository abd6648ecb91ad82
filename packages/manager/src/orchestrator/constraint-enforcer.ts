// The constraint enforcer: when a node changes (labels, role, resources,
// availability) so that tasks assigned to it no longer satisfy their
// placement constraints or no longer fit its resources, it rejects those
// tasks (observed state REJECTED); the orchestrators then replace them
// elsewhere under their restart policy. Desired state stays the
// orchestrators' to set. A draining node is left to the orchestrators, which
// move all its tasks; a paused node keeps its tasks.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Logger, Node__Output, Task__Output } from '@shoal/api';
import { nodeMatches, parseConstraints } from '../constraint/index.js';
import { all, byNode } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent } from '../store/index.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { runLoop } from '../store/run-loop.js';
import { hasStopped, isDesiredLive, nodeChangeMatters, stateRank, timestampMs, toTimestamp } from './task.js';

export interface ConstraintEnforcerDeps {
  clock?: Clock;
  logger?: Logger;
}

/** Why a task may no longer stay on a node, or undefined if it may. */
export function whyNoncompliant(
  task: Task__Output,
  node: Node__Output,
  available: { memory: number; cpu: number },
): string | undefined {
  const exprs = task.spec?.placement?.constraints ?? [];
  if (exprs.length > 0) {
    try {
      if (!nodeMatches(parseConstraints(exprs), node)) return 'assigned node no longer meets constraints';
    } catch {
      return undefined; // refused at service create; nothing to enforce
    }
  }
  const r = task.spec?.resources?.reservations;
  if (r) {
    const memory = Number(r.memory_bytes ?? 0);
    const cpu = Number(r.nano_cpus ?? 0);
    if (memory > available.memory) return 'assigned node no longer has the memory the task reserves';
    if (cpu > available.cpu) return 'assigned node no longer has the CPUs the task reserves';
    available.memory -= memory;
    available.cpu -= cpu;
  }
  return undefined;
}

export class ConstraintEnforcer {
  readonly #store: MemoryStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #dirtyNodes = new Set<string>();

  constructor(store: MemoryStore, deps: ConstraintEnforcerDeps = {}) {
    this.#store = store;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = (deps.logger ?? nopLogger).child({ component: 'constraint-enforcer' });
  }

  /** Enforces until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await runLoop(
      this.#store,
      signal,
      { tables: ['nodes'], kinds: ['update', 'commit'] },
      { init: (tx) => this.#init(tx), onEvent: (e) => this.#onEvent(e), tick: () => this.#tick() },
      this.#logger,
    );
  }

  #init(tx: ReadTx): void {
    for (const n of tx.nodes.find(all)) this.#dirtyNodes.add(n.id);
  }

  #onEvent(e: StoreChangeEvent): void {
    if (e.table === 'nodes' && e.kind === 'update' && nodeChangeMatters(e.kind, e.object, e.old)) this.#dirtyNodes.add(e.object.id);
  }

  async #tick(): Promise<void> {
    if (this.#dirtyNodes.size === 0) return;
    const ids = [...this.#dirtyNodes];
    this.#dirtyNodes.clear();
    const reject = this.#store.view((tx) => {
      const out: Array<{ id: string; why: string }> = [];
      for (const id of ids) {
        const node = tx.nodes.get(id);
        if (node?.spec?.availability !== 'ACTIVE') continue;
        const res = node.description?.resources;
        // A node that reported no resources is not checked for them.
        const available = res
          ? { memory: Number(res.memory_bytes), cpu: Number(res.nano_cpus) }
          : { memory: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
        // Oldest first, so the newest arrivals are the ones that no longer fit.
        const tasks = tx.tasks
          .find(byNode(id))
          .filter((t) => isDesiredLive(t) && !hasStopped(t) && stateRank(t.status?.state) >= stateRank('ASSIGNED'))
          .sort((a, b) => (timestampMs(a.meta?.created_at) ?? 0) - (timestampMs(b.meta?.created_at) ?? 0));
        for (const t of tasks) {
          const why = whyNoncompliant(t, node, available);
          if (why) out.push({ id: t.id, why });
        }
      }
      return out;
    });
    if (reject.length === 0) return;
    const now = this.#clock.now();
    const result = await this.#store.batch((b) => {
      for (const { id, why } of reject) {
        b.update((tx) => {
          const t = tx.tasks.get(id);
          if (!t || !isDesiredLive(t) || hasStopped(t)) return;
          tx.tasks.update({
            ...t,
            status: { ...t.status, state: 'REJECTED', message: 'task rejected by constraint enforcer', err: why, timestamp: toTimestamp(now) },
          });
        });
      }
    });
    for (const f of result.failed) this.#logger.warn('rejecting a task failed', { err: errorMessage(f.error) });
  }
}
