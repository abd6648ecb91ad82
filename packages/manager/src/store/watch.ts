import { unavailable } from '@shoal/api';
import type { TableName, TableObjects } from './tables.js';

/** One object's change, delivered after the transaction that made it committed. */
export type StoreChangeEvent = {
  [K in TableName]: {
    readonly kind: 'create' | 'update' | 'delete';
    readonly table: K;
    /** The object as stored after the change (for delete: as it was). Shared and frozen: clone before changing. */
    readonly object: TableObjects[K];
    /** For update: the object before the change. */
    readonly old?: TableObjects[K];
    /** The Raft index of the entry that made the change. */
    readonly version: number;
  };
}[TableName];

/**
 * Sent after every applied transaction that changed something (and after a
 * restore), so that consumers can debounce: mark work dirty on change
 * events, act on commit.
 */
export interface StoreCommitEvent {
  readonly kind: 'commit';
  readonly version: number;
  /** How many change events this transaction produced. */
  readonly changes: number;
}

export type StoreEvent = StoreChangeEvent | StoreCommitEvent;
export type StoreEventKind = StoreEvent['kind'];

/** Which events a watcher gets. An omitted field matches everything. */
export interface EventMatch {
  readonly tables?: readonly TableName[];
  readonly kinds?: readonly StoreEventKind[];
}

export type WatchFilter = ((event: StoreEvent) => boolean) | EventMatch;

export interface WatchOptions {
  /**
   * Events a watcher may hold unread before it is closed with an error; a
   * slow watcher never slows the store down. Default: the store's
   * `watchBufferSize`.
   */
  bufferSize?: number;
  /** Closes the watcher (ending its iteration) when aborted. */
  signal?: AbortSignal;
}

export function eventMatches(filter: WatchFilter | undefined, e: StoreEvent): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(e);
  if (filter.kinds && !filter.kinds.includes(e.kind)) return false;
  if (filter.tables && e.kind !== 'commit' && !filter.tables.includes(e.table)) return false;
  return true;
}

/**
 * A bounded queue of store events, read with `for await` or `next()`.
 * Iteration ends when the watcher is closed; it throws (Unavailable) when
 * the watcher fell behind by more than its buffer and was dropped — the
 * consumer must then start over with `viewAndWatch`.
 */
export class Watcher implements AsyncIterableIterator<StoreEvent> {
  // Events [#head, #queue.length) are unread; the read prefix is dropped
  // when it is at least half the array, so reading is O(1) amortised (an
  // Array.shift per event is quadratic on a long queue).
  #queue: StoreEvent[] = [];
  #head = 0;
  readonly #bufferSize: number;
  readonly #filter: WatchFilter | undefined;
  readonly #onClose: (w: Watcher) => void;
  #waiter: { resolve: (r: IteratorResult<StoreEvent>) => void; reject: (e: unknown) => void } | undefined;
  #closed = false;
  #error: Error | undefined;
  #detachSignal: (() => void) | undefined;

  /** @internal Made by `MemoryStore.watch`. */
  constructor(filter: WatchFilter | undefined, bufferSize: number, onClose: (w: Watcher) => void, signal?: AbortSignal) {
    this.#filter = filter;
    this.#bufferSize = bufferSize;
    this.#onClose = onClose;
    if (signal) {
      const onAbort = (): void => this.close();
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#detachSignal = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Whether the watcher is closed (by `close`, its signal, or falling behind). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Events received and not yet read. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** @internal Offers an event; drops the watcher when it is full. */
  offer(e: StoreEvent): void {
    if (this.#closed || !eventMatches(this.#filter, e)) return;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve({ value: e, done: false });
      return;
    }
    if (this.pending >= this.#bufferSize) {
      this.#fail(
        unavailable(
          `A store watcher fell more than ${this.#bufferSize} events behind and was closed; start again from a fresh viewAndWatch.`,
        ),
      );
      return;
    }
    this.#queue.push(e);
  }

  /** The next event, waiting for one if none is queued. */
  next(): Promise<IteratorResult<StoreEvent>> {
    const queued = this.#shift();
    if (queued !== undefined) return Promise.resolve({ value: queued, done: false });
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) return Promise.reject(new Error('Watcher.next() called while another next() is waiting.'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Every queued event, without waiting. */
  drain(): StoreEvent[] {
    const out = this.#head === 0 ? this.#queue : this.#queue.slice(this.#head);
    this.#clear();
    return out;
  }

  /** Stops the watcher; queued events can still be read, then iteration ends. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
    this.#waiter?.resolve({ value: undefined, done: true });
    this.#waiter = undefined;
  }

  return(): Promise<IteratorResult<StoreEvent>> {
    this.close();
    this.#clear();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #fail(err: Error): void {
    // The events held are useless without the ones dropped: discard them so
    // the consumer resynchronises instead of acting on a partial stream.
    this.#clear();
    this.#error = err;
    this.#closed = true;
    this.#detach();
    this.#waiter?.reject(err);
    this.#waiter = undefined;
  }

  #shift(): StoreEvent | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const e = this.#queue[this.#head] as StoreEvent;
    this.#queue[this.#head++] = undefined as unknown as StoreEvent; // let it be collected
    if (this.#head === this.#queue.length) this.#clear();
    else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  #clear(): void {
    this.#queue = [];
    this.#head = 0;
  }

  #detach(): void {
    this.#detachSignal?.();
    this.#detachSignal = undefined;
    this.#onClose(this);
  }
}
