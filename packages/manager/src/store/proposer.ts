import { sleep, unavailable } from '@shoal/api';

export interface ProposeResult {
  /** The Raft index the entry was committed at; it becomes the version of every object it wrote. */
  readonly index: number;
}

export interface CommittedEntry {
  readonly index: number;
  readonly data: Uint8Array;
}

export type CommittedListener = (entry: CommittedEntry) => void;

/**
 * All the store knows of Raft.
 *
 * How committed entries reach the store: the host calls the listener given
 * to `onCommitted` for every committed store entry, on every member (leader
 * and followers alike), in log order, synchronously from its apply step,
 * and — for an entry this member proposed — before it resolves the matching
 * `propose`. Every replica therefore runs the same apply code on the same
 * bytes, and a proposal whose outcome was unknown to its caller (a time-out
 * after commit, a lost leadership) is still applied everywhere once it
 * commits. A proposer without `onCommitted` makes the store apply its own
 * entries when `propose` resolves; its host must then feed every other
 * committed entry to `MemoryStore.applyCommitted` itself, in log order.
 * Raft snapshots reach the store through `MemoryStore.restore`.
 */
export interface Proposer {
  /**
   * Appends `data` to the replicated log and resolves once a quorum has it.
   * @throws ShoalError NotLeader or Unavailable when the entry cannot be
   *   committed; the signal's reason when aborted. A rejection does not prove
   *   the entry will never commit (see onCommitted).
   */
  propose(data: Uint8Array, signal?: AbortSignal): Promise<ProposeResult>;
  /** Registers the store's apply step; returns the unregister function. */
  onCommitted?(listener: CommittedListener): () => void;
}

export interface InMemoryProposerOptions {
  /** The index the first entry gets (default 1). */
  firstIndex?: number;
  /** Wait this long (real time) before committing each proposal. */
  delayMs?: number;
}

interface Failure {
  error: Error;
  /** Commit the entry anyway, then reject: an outcome unknown to the caller. */
  afterCommit: boolean;
}

/**
 * A single-member "log" for unit tests and single-process use: commits each
 * proposal at the next index and hands it to every listener, so several
 * stores can follow one proposer as followers follow a leader. It can be
 * told to fail, to hold proposals until released, or to delay them.
 */
export class InMemoryProposer implements Proposer {
  /** Every committed entry, in order. */
  readonly log: CommittedEntry[] = [];
  #last: number;
  #delayMs: number;
  readonly #listeners = new Set<CommittedListener>();
  readonly #failures: Failure[] = [];
  #failAll: Error | undefined;
  #held = false;
  readonly #waiting: Array<() => void> = [];

  constructor(options: InMemoryProposerOptions = {}) {
    this.#last = (options.firstIndex ?? 1) - 1;
    this.#delayMs = options.delayMs ?? 0;
  }

  /** The index of the last committed entry. */
  get lastIndex(): number {
    return this.#last;
  }

  /** Proposals currently held by `hold()`. */
  get heldCount(): number {
    return this.#waiting.length;
  }

  /** The next `times` proposals fail with `error` without committing. */
  failNext(error: Error = unavailable('The in-memory proposer was told to fail; retry.'), times = 1): void {
    for (let i = 0; i < times; i++) this.#failures.push({ error, afterCommit: false });
  }

  /** The next proposal commits but its caller is told it failed (an unknown outcome). */
  failNextAfterCommit(error: Error = unavailable('The proposal timed out; its outcome is unknown.')): void {
    this.#failures.push({ error, afterCommit: true });
  }

  /** Every proposal fails with `error` until called again with undefined. */
  failAll(error: Error | undefined): void {
    this.#failAll = error;
  }

  /** Sets the real-time delay before each commit. */
  setDelay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Holds new and pending proposals until `release`. */
  hold(): void {
    this.#held = true;
  }

  /** Commits held proposals in the order they arrived, and stops holding. */
  release(): void {
    this.#held = false;
    for (const go of this.#waiting.splice(0)) go();
  }

  /** Lets `n` indexes go by, as non-store entries (elections, membership changes) do. */
  skip(n: number): void {
    this.#last += n;
  }

  onCommitted(listener: CommittedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Commits `data` at the next index.
   * @throws the configured failure, or the signal's reason when aborted first.
   */
  async propose(data: Uint8Array, signal?: AbortSignal): Promise<ProposeResult> {
    signal?.throwIfAborted();
    if (this.#delayMs > 0) await sleep(this.#delayMs, signal);
    if (this.#held) await this.#waitRelease(signal);
    if (this.#failAll !== undefined) throw this.#failAll;
    const failure = this.#failures.shift();
    if (failure && !failure.afterCommit) throw failure.error;
    const entry: CommittedEntry = { index: ++this.#last, data: Uint8Array.from(data) };
    this.log.push(entry);
    for (const listener of this.#listeners) listener(entry);
    if (failure) throw failure.error;
    return { index: entry.index };
  }

  #waitRelease(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(go);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason as Error);
      };
      this.#waiting.push(go);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
