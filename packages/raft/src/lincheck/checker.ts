import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Bitset } from './bitset.js';
import { LincheckInputError } from './model.js';
import type { Model, Operation } from './model.js';

export type CheckVerdict = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Give up with 'unknown' after this long (wall clock). Omitted = no limit. */
  readonly timeoutMs?: number;
  /** Give up with 'unknown' when aborted (checked between slices of work). */
  readonly signal?: AbortSignal;
}

/** Why a part is not linearizable: the longest prefix the search managed to linearize. */
export interface Counterexample<I, O> {
  /** Index of the part (see Model.partition) and its label. */
  readonly part: number;
  readonly partLabel: string;
  /** Operations of the part, in call order. */
  readonly operations: readonly Operation<I, O>[];
  /** The longest sequence of the part's operations that was found to be a legal linearization. */
  readonly longestPrefix: readonly Operation<I, O>[];
  /** Human-readable lines: the prefix, then the operations it could not extend to. */
  readonly describe: () => string;
}

export interface CheckResult<I, O> {
  readonly result: CheckVerdict;
  readonly operations: number;
  readonly parts: number;
  readonly elapsedMs: number;
  /** Set when result is 'illegal'. */
  readonly counterexample?: Counterexample<I, O>;
  /** Set when result is 'unknown': 'timeout' or 'aborted'. */
  readonly reason?: 'timeout' | 'aborted';
}

/** Search steps between looks at the clock and the abort signal. */
const SLICE = 4096;
/** Milliseconds of work between yields to the event loop (so an abort can be noticed). */
const YIELD_EVERY_MS = 20;

/**
 * Decide whether `history` is linearizable with respect to `model` (Wing–Gong search with Lowe's
 * memoisation, per part when the model partitions). Parts are searched round-robin in slices, so a
 * part that is quickly found illegal is reported even when another part is slow.
 *
 * Never rejects for a slow or aborted search: that is result 'unknown' with a reason.
 * @throws LincheckInputError (as a rejection) when an operation has a non-finite call time or
 *   returns before it is called.
 */
export async function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): Promise<CheckResult<I, O>> {
  return runCheck(model, history, options, true);
}

/**
 * The same as checkOperations but without yielding to the event loop, so only `timeoutMs` (and a
 * signal already aborted, or aborted synchronously from inside the model) can stop it.
 * @throws LincheckInputError when an operation has a non-finite call time or returns before it is called.
 */
export function checkOperationsSync<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  return runCheck(model, history, options, false) as CheckResult<I, O>;
}

function runCheck<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions,
  yielding: boolean,
): CheckResult<I, O> | Promise<CheckResult<I, O>> {
  const start = performance.now();
  for (const op of history) validate(op);
  const parts = model.partition ? model.partition(history) : [history.slice()];
  const searches = parts.map((part, index) => new PartSearch(model, part, index));
  const deadline = options.timeoutMs === undefined ? Infinity : start + options.timeoutMs;
  const finish = (result: CheckVerdict, extra: Partial<CheckResult<I, O>> = {}): CheckResult<I, O> => ({
    result,
    operations: history.length,
    parts: parts.length,
    elapsedMs: performance.now() - start,
    ...extra,
  });

  // Returns a result when done, or undefined when the caller should yield and call again.
  let pending = searches;
  let lastYield = performance.now();
  const advance = (): CheckResult<I, O> | undefined => {
    for (;;) {
      if (pending.length === 0) return finish('ok');
      if (options.signal?.aborted) return finish('unknown', { reason: 'aborted' });
      const now = performance.now();
      if (now >= deadline) return finish('unknown', { reason: 'timeout' });
      if (yielding && now - lastYield >= YIELD_EVERY_MS) {
        lastYield = now;
        return undefined;
      }
      const still: PartSearch<S, I, O>[] = [];
      for (const search of pending) {
        const verdict = search.run(SLICE);
        if (verdict === 'illegal') return finish('illegal', { counterexample: search.counterexample() });
        if (verdict === 'pending') still.push(search);
      }
      pending = still;
    }
  };

  if (!yielding) {
    let result = advance();
    while (result === undefined) result = advance();
    return result;
  }
  return (async () => {
    let result = advance();
    while (result === undefined) {
      await yieldToEventLoop();
      result = advance();
    }
    return result;
  })();
}

function validate(op: Operation<unknown, unknown>): void {
  if (!Number.isFinite(op.call)) {
    throw new LincheckInputError(`Operation of client ${op.clientId} has call time ${op.call}; call times must be finite numbers.`);
  }
  if (Number.isNaN(op.return) || op.return < op.call) {
    throw new LincheckInputError(`Operation of client ${op.clientId} returns at ${op.return}, before its call at ${op.call}; fix the history's timestamps.`);
  }
}

/**
 * The backtracking search over one part. Events (calls and returns) sit in a doubly linked list in
 * time order; linearizing an operation unlinks its call and return ("lift"), backtracking relinks
 * them in reverse order. Node i < n is the call of operation i, node n + i its return, node 2n the
 * head.
 *
 * An operation with an unknown outcome and no return ("optional") can always be linearized last,
 * where it changes nothing observable, so the search succeeds as soon as every other operation is
 * linearized.
 */
interface Config<S> {
  /** Linearized operations. */
  readonly bits: Bitset;
  readonly state: S;
  /** Hash of the known (not optional) linearized operations and the state. */
  readonly knownHash: number;
}

const PHASED = process.env['LINCHECK_PHASED'] !== '0';

class PartSearch<S, I, O> {
  private readonly n: number;
  private readonly ops: Operation<I, O>[];
  private readonly optional: Uint8Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly head: number;
  private readonly linearized: Bitset;
  /** The known (not optional) members of `linearized`. */
  private readonly known: Bitset;
  private readonly optionalMask: Bitset;
  private chosenOptional = 0;
  /** Seen (linearized set, state) pairs, bucketed by a hash of both. */
  private readonly cache = new Map<number, Config<S>[]>();
  /** Fully explored configurations, bucketed by a hash of their known set and state. */
  private readonly explored = new Map<number, Config<S>[]>();
  private readonly stackOp: Int32Array;
  private readonly stackState: S[] = [];
  private readonly stackConfig: Config<S>[] = [];
  private phase: 1 | 2 = 1;
  private depth = 0;
  private state: S;
  private entry: number;
  private remainingKnown = 0;
  private done: 'ok' | 'illegal' | undefined;
  private best: number[] = [];

  constructor(
    private readonly model: Model<S, I, O>,
    part: readonly Operation<I, O>[],
    readonly index: number,
  ) {
    // Call order makes counterexamples readable; the search itself only needs the event order.
    this.ops = part.slice().sort((a, b) => a.call - b.call);
    const n = (this.n = this.ops.length);
    this.head = 2 * n;
    this.next = new Int32Array(2 * n + 1).fill(-1);
    this.prev = new Int32Array(2 * n + 1).fill(-1);
    this.optional = new Uint8Array(n);
    this.linearized = new Bitset(n);
    this.known = new Bitset(n);
    this.optionalMask = new Bitset(n);
    this.stackOp = new Int32Array(n);
    this.state = model.init();

    const events: { node: number; time: number; isCall: boolean }[] = [];
    for (let i = 0; i < n; i++) {
      const op = this.ops[i]!;
      if (op.output === undefined && op.return === Infinity) {
        this.optional[i] = 1;
        this.optionalMask.set(i);
      }
      else this.remainingKnown++;
      events.push({ node: i, time: op.call, isCall: true }, { node: n + i, time: op.return, isCall: false });
    }
    // At equal times calls go first: touching intervals count as concurrent, the lenient reading
    // for clocks with coarse resolution.
    events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.node - b.node : a.isCall ? -1 : 1));
    let last = this.head;
    for (const e of events) {
      this.next[last] = e.node;
      this.prev[e.node] = last;
      last = e.node;
    }
    this.entry = this.next[this.head]!;
    if (this.remainingKnown === 0) this.done = 'ok';
  }

  /** Do up to `steps` search steps. */
  run(steps: number): 'ok' | 'illegal' | 'pending' {
    if (this.done) return this.done;
    const { n, next, prev, head, ops, model, optional, linearized, known, stackOp, stackState, stackConfig } = this;
    let entry = this.entry;
    let state = this.state;
    let depth = this.depth;
    let remainingKnown = this.remainingKnown;
    let phase = this.phase;
    const phased = PHASED;
    const unlink = (k: number): void => {
      const after = next[k]!;
      next[prev[k]!] = after;
      if (after !== -1) prev[after] = prev[k]!;
    };
    const relink = (k: number): void => {
      const after = next[k]!;
      next[prev[k]!] = k;
      if (after !== -1) prev[after] = k;
    };

    let result: 'ok' | 'illegal' | 'pending' = 'pending';
    for (let step = 0; step < steps; step++) {
      if (remainingKnown === 0) {
        result = 'ok';
        break;
      }
      if (entry < n) {
        const isOptional = optional[entry] === 1;
        if (phased && isOptional !== (phase === 2)) {
          entry = next[entry]!;
          continue;
        }
        const op = ops[entry]!;
        const r = model.step(state, op.input, op.output);
        if (r.ok) {
          linearized.set(entry);
          if (isOptional) this.chosenOptional++;
          else known.set(entry);
          const config = this.enter(r.state);
          if (config !== undefined) {
            stackOp[depth] = entry;
            stackState[depth] = state;
            stackConfig[depth] = config;
            depth++;
            if (depth > this.best.length) this.best = Array.from(stackOp.subarray(0, depth));
            state = r.state;
            unlink(entry);
            unlink(n + entry);
            if (!isOptional) remainingKnown--;
            entry = next[head]!;
            phase = 1;
            continue;
          }
          linearized.clear(entry);
          if (isOptional) this.chosenOptional--;
          else known.clear(entry);
        }
        entry = next[entry]!;
      } else if (phased && phase === 1) {
        // End of this level's candidates: now the optional operations among them.
        phase = 2;
        entry = next[head]!;
      } else {
        // A return reached: the operation it belongs to had to be linearized before this point.
        if (depth === 0) {
          result = 'illegal';
          break;
        }
        depth--;
        const i = stackOp[depth]!;
        this.markExplored(stackConfig[depth]!);
        stackConfig[depth] = undefined as unknown as Config<S>;
        state = stackState[depth]!;
        stackState[depth] = undefined as S;
        linearized.clear(i);
        if (optional[i] === 1) {
          this.chosenOptional--;
          phase = 2;
        } else {
          known.clear(i);
          remainingKnown++;
          phase = 1;
        }
        relink(n + i);
        relink(i);
        entry = next[i]!;
      }
    }
    this.entry = entry;
    this.state = state;
    this.depth = depth;
    this.remainingKnown = remainingKnown;
    this.phase = phase;
    if (result !== 'pending') {
      this.done = result;
      this.cache.clear();
      this.explored.clear();
    }
    return result;
  }

  private stateHash(state: S): number {
    return this.model.hash ? Math.imul(this.model.hash(state), 0x9e3779b1) : 0;
  }

  /**
   * Records the configuration just reached (linearized set, `state`) and returns it, or returns
   * undefined when it need not be explored: seen before, or dominated by a fully explored
   * configuration with the same known operations and state and a subset of its optional ones
   * (which had every option this one has, since optional operations can always go last).
   */
  private enter(state: S): Config<S> | undefined {
    const { model, linearized } = this;
    const sh = this.stateHash(state);
    if (this.chosenOptional > 0) {
      const candidates = this.explored.get(this.known.hash() ^ sh);
      if (candidates !== undefined) {
        for (let i = 0; i < candidates.length; i++) {
          const seen = candidates[i]!;
          if (seen.bits.isSubsetOf(linearized) && linearized.isSubsetOfUnion(seen.bits, this.optionalMask) && model.equal(seen.state, state)) return undefined;
        }
      }
    }
    const key = linearized.hash() ^ sh;
    let bucket = this.cache.get(key);
    if (bucket === undefined) {
      bucket = [];
      this.cache.set(key, bucket);
    } else {
      for (let i = 0; i < bucket.length; i++) {
        const seen = bucket[i]!;
        if (seen.bits.equals(linearized) && model.equal(seen.state, state)) return undefined;
      }
    }
    const config: Config<S> = { bits: linearized.clone(), state, knownHash: this.known.hash() ^ sh };
    bucket.push(config);
    return config;
  }

  /** A configuration whose subtree has been searched without success. */
  private markExplored(config: Config<S>): void {
    if (this.optionalMask.popcount() === 0) return;
    const bucket = this.explored.get(config.knownHash);
    if (bucket === undefined) this.explored.set(config.knownHash, [config]);
    else bucket.push(config);
  }

  counterexample(): Counterexample<I, O> {
    const { model, ops } = this;
    const label = model.describePartition ? model.describePartition(ops, this.index) : `part ${this.index}`;
    const longestPrefix = this.best.map((i) => ops[i]!);
    const describeOp = (op: Operation<I, O>): string => {
      const what = model.describeOperation ? model.describeOperation(op.input, op.output) : JSON.stringify({ input: op.input, output: op.output });
      const ret = op.return === Infinity ? '∞' : String(op.return);
      return `client ${op.clientId} [${op.call}, ${ret}] ${what}`;
    };
    const describe = (): string => {
      const inPrefix = new Set(this.best);
      // The operations that could have come next: not linearized, and called before the earliest
      // return among the remaining ones.
      const rest = ops.filter((_, i) => !inPrefix.has(i));
      const firstReturn = Math.min(...rest.map((op) => op.return));
      const candidates = rest.filter((op) => op.call <= firstReturn);
      return [
        `${label}: not linearizable (${ops.length} operations).`,
        `Longest linearizable prefix (${longestPrefix.length} operations):`,
        ...longestPrefix.map((op) => `  ${describeOp(op)}`),
        `Operations that could come next, none of which fits:`,
        ...candidates.map((op) => `  ${describeOp(op)}`),
      ].join('\n');
    };
    return { part: this.index, partLabel: label, operations: ops, longestPrefix, describe };
  }
}
