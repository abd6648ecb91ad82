// The allocator: moves new tasks to PENDING once the resources they need
// before scheduling are reserved. Tasks here use the node's own networks
// (bridge, host-mode ports, checked by the scheduler), so nothing is reserved
// yet; overlay addresses, virtual IPs and ingress ports come with the overlay
// driver and will be reserved here, in the same transaction.
import { errorMessage, nopLogger } from '@shoal/api';
import type { Logger, Task__Output } from '@shoal/api';
import { all } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreChangeEvent } from '../store/index.js';
import { runLoop } from '../store/run-loop.js';

export interface AllocatorDeps {
  logger?: Logger;
  /** The status timestamp (tests fix it). */
  now?: () => Date;
}

/** Tasks the allocator moves per store callback. */
const CHUNK = 100;

function wanted(t: Task__Output): boolean {
  return t.status?.state === 'NEW' && (t.desired_state === 'RUNNING' || t.desired_state === 'COMPLETE' || t.desired_state === 'READY');
}

export class Allocator {
  readonly #store: MemoryStore;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #dirty = new Set<string>();

  constructor(store: MemoryStore, deps: AllocatorDeps = {}) {
    this.#store = store;
    this.#log = (deps.logger ?? nopLogger).child({ component: 'allocator' });
    this.#now = deps.now ?? (() => new Date());
  }

  /** Allocates until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await runLoop(this.#store, signal, { tables: ['tasks'] }, { init: (tx) => this.#init(tx), onEvent: (e) => this.#onEvent(e), tick: () => this.#tick() }, this.#log);
  }

  #init(tx: ReadTx): void {
    for (const t of tx.tasks.find(all)) if (wanted(t)) this.#dirty.add(t.id);
  }

  #onEvent(e: StoreChangeEvent): void {
    if (e.table === 'tasks' && e.kind !== 'delete' && wanted(e.object)) this.#dirty.add(e.object.id);
  }

  async #tick(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    const ms = this.#now().getTime();
    const timestamp = { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
    const result = await this.#store.batch((b) => {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        b.update((tx) => {
          for (const id of chunk) {
            const t = tx.tasks.get(id);
            // Re-checked on write: the task may have moved on or gone meanwhile.
            if (!t || !wanted(t)) continue;
            t.status = { ...t.status!, state: 'PENDING', message: 'pending task scheduling', timestamp, err: '' };
            tx.tasks.update(t);
          }
        });
      }
    });
    if (result.failed.length > 0) {
      // Re-checked on the next pass; tasks already moved are no longer wanted.
      for (const id of ids) this.#dirty.add(id);
      for (const f of result.failed) this.#log.warn('moving tasks to PENDING failed; retried on the next change', { err: errorMessage(f.error) });
    }
  }
}
