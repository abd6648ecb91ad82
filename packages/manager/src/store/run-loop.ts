// The run loop manager components share (orchestrators, the allocator): read the state and start
// watching at the same instant, let change events mark work dirty, do the
// work when their transaction's commit event arrives, stop on abort. A
// watcher that fell behind is replaced by a fresh view-and-watch.
import { errorMessage, isAbortError } from '@shoal/api';
import type { Logger } from '@shoal/api';
import type { MemoryStore, ReadTx, StoreChangeEvent, WatchFilter } from './index.js';

export interface LoopHandlers {
  /** Rebuilds the component's state from a consistent view (at start and after a resync). */
  init(tx: ReadTx): void;
  /** Marks work dirty; must not wait or write. */
  onEvent(e: StoreChangeEvent): void;
  /** Does the dirty work. Errors are logged; the work stays dirty for the next commit. */
  tick(signal: AbortSignal): Promise<void>;
}

export async function runLoop(
  store: MemoryStore,
  signal: AbortSignal,
  filter: WatchFilter,
  handlers: LoopHandlers,
  logger: Logger,
): Promise<void> {
  const tick = async (): Promise<void> => {
    try {
      await handlers.tick(signal);
    } catch (err) {
      if (signal.aborted || isAbortError(err)) return;
      logger.warn('orchestration pass failed; it is retried on the next change', { err: errorMessage(err) });
    }
  };
  while (!signal.aborted) {
    const { watcher } = store.viewAndWatch((tx) => handlers.init(tx), filter, { signal });
    await tick();
    try {
      for await (const e of watcher) {
        if (e.kind === 'commit') await tick();
        else handlers.onEvent(e);
        if (signal.aborted) break;
      }
      return; // closed: aborted, or the store shut down
    } catch (err) {
      if (signal.aborted) break;
      // The watcher fell behind and was dropped: start over from a fresh view.
      logger.warn('store watcher dropped; resynchronising', { err: errorMessage(err) });
    } finally {
      watcher.close();
    }
  }
}
