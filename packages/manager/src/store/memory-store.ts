import { alreadyExists, conflict, internal, invalidArgument, notFound } from '@shoal/api';
import type { ShoalError } from '@shoal/api';
import { cloneObject, decodeActions, decodeSnapshot, encodeActionList, freezeStored, encodeSnapshot } from './codec.js';
import type { DecodedAction, EncodedAction, SnapshotContents } from './codec.js';
import { InMemoryProposer } from './proposer.js';
import type { Proposer } from './proposer.js';
import { emptyTables } from './table-state.js';
import type { Tables } from './table-state.js';
import { TABLES, TABLE_NAMES } from './tables.js';
import type { StoreObject, TableName } from './tables.js';
import { ReadTransaction, WriteTransaction } from './tx.js';
import type { ReadTx, WriteTx } from './tx.js';
import { Watcher } from './watch.js';
import type { StoreChangeEvent, StoreEvent, WatchFilter, WatchOptions } from './watch.js';

export interface MemoryStoreOptions {
  /** The clock for created_at/updated_at (the proposing member's; replicas copy it). */
  now?: () => Date;
  /** Most changes one proposal of `batch` holds (default 200). */
  maxChangesPerProposal?: number;
  /** Most bytes one proposal may hold (default 1.5 MiB); `update` refuses more, `batch` splits. */
  maxProposalBytes?: number;
  /** Default unread events a watcher may hold before it is dropped (default 10,000). */
  watchBufferSize?: number;
}

export interface UpdateOptions {
  /** Gives up waiting for the lock or the commit. After the proposal, the outcome may be unknown. */
  signal?: AbortSignal;
}

/** Collects the callbacks of one `store.batch`. */
export interface Batch {
  /** Queues a callback; each runs atomically against the state left by the ones before it. */
  update(cb: (tx: WriteTx) => void): void;
}

export interface BatchResult {
  /** Callbacks whose changes were committed. */
  succeeded: number;
  /** Callbacks that threw (their own changes rolled back), by position. */
  failed: Array<{ position: number; error: unknown }>;
  /** How many proposals the batch took. */
  proposals: number;
}

const DEFAULT_MAX_CHANGES = 200;
const DEFAULT_MAX_BYTES = 1.5 * 1024 * 1024;
const DEFAULT_WATCH_BUFFER = 10_000;
// Rejections of entries nobody here waits for (a follower's) are kept only
// this long.
const MAX_REMEMBERED_REJECTIONS = 256;
// Entries this store proposed and has not applied yet, kept with the actions
// they were encoded from. Normally one (updates run one at a time); more when
// a proposal was abandoned (abort, lost leadership) and may still commit.
const MAX_OWN_PROPOSALS = 4;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function abortReason(signal: AbortSignal): Error {
  try {
    signal.throwIfAborted();
  } catch (err) {
    return err as Error;
  }
  return new Error('aborted');
}

function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
  });
}

const syncOnly = (what: string): ShoalError =>
  invalidArgument(`${what} callbacks must be synchronous; do any waiting before calling it, not inside.`);

/**
 * The cluster store: tables of cluster objects held in memory, changed only
 * by committed Raft entries. Writers run a synchronous callback against a
 * private transaction; its changes are proposed as one entry and applied —
 * here and on every replica, by the same code — only once committed.
 */
export class MemoryStore {
  #tables: Tables = emptyTables();
  readonly #proposer: Proposer;
  /** Set when the store made its own single-member proposer. */
  readonly #ownProposer: InMemoryProposer | undefined;
  readonly #detachProposer: (() => void) | undefined;
  readonly #now: () => Date;
  readonly #maxChanges: number;
  readonly #maxBytes: number;
  readonly #watchBufferSize: number;
  readonly #watchers = new Set<Watcher>();
  readonly #rejections = new Map<number, ShoalError>();
  readonly #own: Array<{ data: Uint8Array; actions: readonly DecodedAction[] }> = [];
  #appliedIndex = 0;
  #lockTail: Promise<void> = Promise.resolve();

  /** With no proposer, the store commits through a private InMemoryProposer (single member). */
  constructor(proposer?: Proposer, options: MemoryStoreOptions = {}) {
    this.#ownProposer = proposer ? undefined : new InMemoryProposer();
    this.#proposer = proposer ?? (this.#ownProposer as InMemoryProposer);
    this.#now = options.now ?? (() => new Date());
    this.#maxChanges = options.maxChangesPerProposal ?? DEFAULT_MAX_CHANGES;
    this.#maxBytes = options.maxProposalBytes ?? DEFAULT_MAX_BYTES;
    this.#watchBufferSize = options.watchBufferSize ?? DEFAULT_WATCH_BUFFER;
    this.#detachProposer = this.#proposer.onCommitted?.((e) => this.applyCommitted(e.index, e.data));
  }

  /** The Raft index of the last entry (or snapshot) applied. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Stops following the proposer and closes every watcher. */
  close(): void {
    this.#detachProposer?.();
    for (const w of [...this.#watchers]) w.close();
  }

  /**
   * Runs `cb` against the committed state. No await inside: the transaction
   * closes when `cb` returns.
   * @throws whatever `cb` throws; InvalidArgument if `cb` returns a promise.
   */
  view<T>(cb: (tx: ReadTx) => T): T {
    const tx = new ReadTransaction(this.#tables);
    try {
      const result = cb(tx as unknown as ReadTx);
      if (isThenable(result)) throw syncOnly('store.view');
      return result;
    } finally {
      tx.close();
    }
  }

  /**
   * Runs `cb` in a write transaction and commits its changes as one
   * proposal; resolves with `cb`'s result once they are committed and
   * applied. A throw in `cb` discards every change it made. Updates run one
   * at a time.
   * @throws whatever `cb` throws (NotFound, Conflict, AlreadyExists and
   *   InvalidArgument from the table helpers); InvalidArgument when the
   *   change exceeds maxProposalBytes (use `batch`); the proposer's error
   *   (NotLeader, Unavailable, an abort) when it could not commit; Conflict
   *   when a change from a previous leader got there first; Internal when
   *   the proposer's index is one the store has already applied.
   */
  async update<T>(cb: (tx: WriteTx) => T, options: UpdateOptions = {}): Promise<T> {
    return this.#withLock(options.signal, async () => {
      const tx = new WriteTransaction(this.#tables, this.#now());
      let result: T;
      try {
        result = cb(tx as unknown as WriteTx);
      } finally {
        tx.close();
      }
      if (isThenable(result)) {
        (result as Promise<unknown>).catch(() => undefined);
        throw syncOnly('store.update');
      }
      const actions = tx.actions();
      if (actions.length > 0) await this.#commit(actions, options.signal);
      return result;
    });
  }

  /**
   * For large changes: runs each queued callback atomically, and proposes
   * their changes in several entries of at most maxChangesPerProposal
   * changes and maxProposalBytes bytes. Each proposal is atomic, the batch
   * as a whole is not; other updates may run between proposals. A callback
   * that would overflow a proposal is rolled back and run again at the start
   * of the next one, so callbacks must depend only on what they read.
   * @throws InvalidArgument if `cb` or a callback returns a promise; the
   *   proposer's error, after which the proposals before it stay committed.
   */
  async batch(cb: (batch: Batch) => void, options: UpdateOptions = {}): Promise<BatchResult> {
    const callbacks: Array<(tx: WriteTx) => void> = [];
    const collected = cb({ update: (fn) => void callbacks.push(fn) });
    if (isThenable(collected)) throw syncOnly('store.batch');
    const result: BatchResult = { succeeded: 0, failed: [], proposals: 0 };
    let next = 0;
    while (next < callbacks.length) {
      await this.#withLock(options.signal, async () => {
        const tx = new WriteTransaction(this.#tables, this.#now());
        let succeeded = 0;
        try {
          while (next < callbacks.length) {
            const sp = tx.savepoint();
            const before = tx.pendingSize().actions;
            try {
              const r = (callbacks[next] as (tx: WriteTx) => unknown)(tx as unknown as WriteTx);
              if (isThenable(r)) {
                (r as Promise<unknown>).catch(() => undefined);
                throw syncOnly('batch.update');
              }
            } catch (error) {
              tx.rollbackTo(sp);
              result.failed.push({ position: next++, error });
              continue;
            }
            const size = tx.pendingSize();
            if (size.actions > this.#maxChanges || size.bytes > this.#maxBytes) {
              tx.rollbackTo(sp);
              if (before === 0) {
                result.failed.push({
                  position: next++,
                  error: invalidArgument(
                    `One batch callback made ${size.actions} changes (${size.bytes} bytes), more than one proposal may hold (${this.#maxChanges} changes, ${this.#maxBytes} bytes); split it.`,
                  ),
                });
                continue;
              }
              break; // propose what we have; this callback runs again first next time
            }
            succeeded++;
            next++;
            if (size.actions === this.#maxChanges) break;
          }
        } finally {
          tx.close();
        }
        const actions = tx.actions();
        if (actions.length > 0) {
          await this.#commit(actions, options.signal);
          result.proposals++;
        }
        result.succeeded += succeeded;
      });
    }
    return result;
  }

  /**
   * Starts a watcher of future events. Prefer `viewAndWatch` to start from a
   * consistent state.
   */
  watch(filter?: WatchFilter, options: WatchOptions = {}): Watcher {
    const w = new Watcher(
      filter,
      options.bufferSize ?? this.#watchBufferSize,
      (closed) => this.#watchers.delete(closed),
      options.signal,
    );
    this.#watchers.add(w);
    return w;
  }

  /**
   * Reads the state and starts a watcher at the same instant: the watcher
   * gets every event after the state `cb` saw, none before it.
   * @throws whatever `cb` throws (and then no watcher is started).
   */
  viewAndWatch<T>(cb: (tx: ReadTx) => T, filter?: WatchFilter, options: WatchOptions = {}): { result: T; watcher: Watcher } {
    // Entries are applied synchronously, so nothing can land between the two.
    const result = this.view(cb);
    return { result, watcher: this.watch(filter, options) };
  }

  /**
   * Applies a committed store entry (see Proposer for who calls this).
   * Entries at or below appliedIndex are ignored, so a redelivery is harmless.
   * An entry this store proposed is applied from the objects it was encoded
   * from, which `normalize` decoded from the same bytes: the result is what
   * decoding the entry gives, without decoding it again.
   * @throws ShoalError DataLoss when `data` is not a store entry.
   */
  applyCommitted(index: number, data: Uint8Array): void {
    if (index <= this.#appliedIndex) return;
    this.#apply(this.#takeOwn(data) ?? decodeActions(data), index);
  }

  /**
   * Applies decoded actions committed at `index`, without proposing. Every
   * replica decides the same way: if any action finds the object missing,
   * already there, or at another version than the writer read, the whole
   * entry is skipped and its proposer is told why. The actions' objects are
   * copied; the caller keeps its own.
   */
  applyStoreActions(actions: readonly DecodedAction[], index: number): void {
    if (index <= this.#appliedIndex) return;
    this.#apply(actions.map((a) => ({ ...a, object: cloneObject(a.object) }) as DecodedAction), index);
  }

  /** Applies actions whose objects the store owns (fresh from a decode, or frozen by normalize). */
  #apply(actions: readonly DecodedAction[], index: number): void {
    if (index <= this.#appliedIndex) return;
    const refusal = this.#check(actions);
    this.#appliedIndex = index;
    if (refusal) {
      this.#rejections.set(index, refusal);
      if (this.#rejections.size > MAX_REMEMBERED_REJECTIONS) {
        const oldest = this.#rejections.keys().next().value;
        if (oldest !== undefined) this.#rejections.delete(oldest);
      }
      return;
    }
    const events: StoreChangeEvent[] = [];
    const version = { index: String(index) };
    for (const a of actions) {
      const state = this.#tables[a.table];
      const old = state.get(a.object.id);
      if (a.kind === 'delete') {
        state.remove(a.object.id);
        if (old) events.push({ kind: 'delete', table: a.table, object: old, version: index } as StoreChangeEvent);
        continue;
      }
      // A new outer object and meta; the rest is shared with `a.object`,
      // which nothing else holds.
      const meta = a.object.meta ?? { version: null, created_at: null, updated_at: null };
      const obj = freezeStored({ ...a.object, meta: { ...meta, version } });
      state.put(obj);
      events.push(
        (a.kind === 'create'
          ? { kind: 'create', table: a.table, object: obj, version: index }
          : { kind: 'update', table: a.table, object: obj, old, version: index }) as StoreChangeEvent,
      );
    }
    this.#publish(events, index);
  }

  /** The actions of an entry this store proposed with exactly these bytes, if any. */
  #takeOwn(data: Uint8Array): readonly DecodedAction[] | undefined {
    const i = this.#own.findIndex((p) => sameBytes(p.data, data));
    if (i < 0) return undefined;
    const [own] = this.#own.splice(i, 1);
    return own?.actions;
  }

  /** The whole store, as of appliedIndex; equal states give equal bytes. */
  save(): Uint8Array {
    const tables = {} as SnapshotContents['tables'];
    for (const name of TABLE_NAMES) {
      const objs = [...this.#tables[name].values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      (tables as Record<TableName, StoreObject[]>)[name] = objs;
    }
    return encodeSnapshot({ index: this.#appliedIndex, tables });
  }

  /**
   * Replaces the whole state with a snapshot from `save` (a Raft snapshot
   * being installed). Watchers stay open and get the difference as create,
   * update and delete events, then one commit event.
   * @throws ShoalError DataLoss when the bytes are not a snapshot.
   */
  restore(data: Uint8Array): void {
    const snap = decodeSnapshot(data);
    const next = emptyTables();
    const events: StoreChangeEvent[] = [];
    for (const name of TABLE_NAMES) {
      const before = this.#tables[name];
      const after = next[name];
      for (const o of snap.tables[name]) after.put(freezeStored(o));
      for (const o of after.values()) {
        const old = before.get(o.id);
        if (!old) events.push({ kind: 'create', table: name, object: o, version: snap.index } as StoreChangeEvent);
        else if (old.meta?.version?.index !== o.meta?.version?.index) {
          events.push({ kind: 'update', table: name, object: o, old, version: snap.index } as StoreChangeEvent);
        }
      }
      for (const o of before.values()) {
        if (!after.get(o.id)) events.push({ kind: 'delete', table: name, object: o, version: snap.index } as StoreChangeEvent);
      }
    }
    this.#tables = next;
    this.#appliedIndex = snap.index;
    // A single-member store's log continues after the snapshot.
    const own = this.#ownProposer;
    if (own && own.lastIndex < snap.index) own.skip(snap.index - own.lastIndex);
    this.#publish(events, snap.index);
  }

  async #commit(actions: Array<DecodedAction & EncodedAction>, signal?: AbortSignal): Promise<void> {
    const data = encodeActionList(actions);
    if (data.length > this.#maxBytes) {
      throw invalidArgument(
        `This change is ${data.length} bytes, more than one proposal may hold (${this.#maxBytes}); make it with store.batch() instead.`,
      );
    }
    const appliedBefore = this.#appliedIndex;
    this.#own.push({ data, actions });
    if (this.#own.length > MAX_OWN_PROPOSALS) this.#own.shift();
    const { index } = await this.#proposer.propose(data, signal);
    if (index <= appliedBefore) {
      throw internal(
        `The proposer committed a store entry at index ${index}, at or below the ${appliedBefore} already applied; the store and the Raft log disagree, so this change was not applied.`,
      );
    }
    // A proposer without onCommitted leaves applying its own entries to us.
    if (index > this.#appliedIndex) this.applyCommitted(index, data);
    const refusal = this.#rejections.get(index);
    if (refusal) {
      this.#rejections.delete(index);
      throw refusal;
    }
  }

  /** Why an entry cannot apply to the current state, if it cannot. */
  #check(actions: readonly DecodedAction[]): ShoalError | undefined {
    for (const a of actions) {
      const def = TABLES[a.table];
      const current = this.#tables[a.table].get(a.object.id);
      if (a.kind === 'create') {
        if (current) return alreadyExists(`A ${def.noun} with id ${a.object.id} already exists.`);
        continue;
      }
      if (!current) return notFound(`No such ${def.noun}: ${a.object.id}.`);
      const stored = current.meta?.version?.index ?? '0';
      const read = a.object.meta?.version?.index ?? '0';
      if (stored !== read) {
        return conflict(
          `The ${def.noun} ${a.object.id} changed after it was read (now version ${stored}, this write is based on version ${read}); read it again and retry.`,
        );
      }
    }
    return undefined;
  }

  #publish(changes: StoreChangeEvent[], version: number): void {
    if (changes.length === 0 || this.#watchers.size === 0) return;
    const events: StoreEvent[] = [...changes, { kind: 'commit', version, changes: changes.length }];
    for (const w of [...this.#watchers]) for (const e of events) w.offer(e);
  }

  async #withLock<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const prev = this.#lockTail;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    // The next writer waits for both, so giving up while queued never lets
    // it overtake the one ahead of us.
    this.#lockTail = prev.then(() => mine);
    try {
      await raceAbort(prev, signal);
      return await fn();
    } finally {
      release();
    }
  }
}
