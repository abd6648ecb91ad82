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

/** The optional operations to try at one level of the search, with the states they lead to. */
interface OptionalLevel<S> {
  readonly ops: number[];
  readonly states: S[];
  pos: number;
}

/** A point the search has reached: which operations are linearized, and the model's state. */
interface Config<S> {
  readonly bits: Bitset;
  readonly state: S;
}

/**
 * The backtracking search over one part (Wing & Gong, with Lowe's memo of configurations already
 * reached). Events (calls and returns) sit in a doubly linked list in time order; linearizing an
 * operation unlinks its call and return, backtracking relinks them in reverse order. At each level
 * the candidates are the calls before the first remaining return. Node i < n is the call of
 * operation i, node n + i its return, node 2n the head.
 *
 * An operation with an unknown outcome and no return ("optional") may be left out, since it could
 * always be linearized last where it changes nothing observable. Three rules follow:
 * - the search succeeds once every known operation is linearized;
 * - a configuration is not searched when one with the same known operations, the same state and a
 *   subset of its optional operations was reached before: that one has every completion this one
 *   has (searching it covers this one even if it is still on the stack, because every configuration
 *   reached has all its successors considered before the search gives up);
 * - each level tries its known candidates first, then registers all its optional successors before
 *   searching any of them, so short runs of optional operations are reached before long ones and
 *   dominate them. Without this, time-outs in a history make the search exponential.
 */
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
  /** Configurations reached so far, bucketed by a hash of their known set and their state. */
  private readonly seen = new Map<number, Config<S>[]>();
  private readonly stackOp: Int32Array;
  private readonly stackState: S[] = [];
  /** 1: trying known operations at this level; 2: trying the optional ones in levels[depth]. */
  private phase: 1 | 2 = 1;
  private readonly levels: (OptionalLevel<S> | undefined)[] = [];
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
      } else {
        this.remainingKnown++;
      }
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
    const { n, next, prev, head, ops, model, optional, linearized, known, stackOp, stackState, levels } = this;
    let entry = this.entry;
    let state = this.state;
    let depth = this.depth;
    let remainingKnown = this.remainingKnown;
    let phase = this.phase;
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
    // Linearize operation i (already marked in the bitsets), reaching `to`.
    const descend = (i: number, to: S): void => {
      stackOp[depth] = i;
      stackState[depth] = state;
      depth++;
      levels[depth] = undefined;
      if (depth > this.best.length) this.best = Array.from(stackOp.subarray(0, depth));
      state = to;
      unlink(i);
      unlink(n + i);
      if (optional[i] === 0) remainingKnown--;
      entry = next[head]!;
      phase = 1;
    };

    let result: 'ok' | 'illegal' | 'pending' = 'pending';
    for (let step = 0; step < steps; step++) {
      if (remainingKnown === 0) {
        result = 'ok';
        break;
      }
      if (phase === 1) {
        if (entry < n) {
          if (optional[entry] === 0) {
            const op = ops[entry]!;
            const r = model.step(state, op.input, op.output);
            if (r.ok) {
              linearized.set(entry);
              known.set(entry);
              if (this.remember(r.state)) {
                descend(entry, r.state);
                continue;
              }
              linearized.clear(entry);
              known.clear(entry);
            }
          }
          entry = next[entry]!;
          continue;
        }
        // A return ends this level's candidates; the known ones are done, now the optional ones.
        phase = 2;
        levels[depth] ??= this.optionalChildren(state);
        continue;
      }
      const level = levels[depth]!;
      if (level.pos < level.ops.length) {
        const i = level.ops[level.pos]!;
        const to = level.states[level.pos]!;
        level.pos++;
        linearized.set(i);
        descend(i, to);
        continue;
      }
      // Every way on from here failed: the operation returning next had to come earlier.
      if (depth === 0) {
        result = 'illegal';
        break;
      }
      levels[depth] = undefined;
      depth--;
      const i = stackOp[depth]!;
      state = stackState[depth]!;
      stackState[depth] = undefined as S;
      linearized.clear(i);
      relink(n + i);
      relink(i);
      if (optional[i] === 1) {
        phase = 2;
      } else {
        known.clear(i);
        remainingKnown++;
        phase = 1;
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
      this.seen.clear();
      this.levels.length = 0;
    }
    return result;
  }

  /**
   * Registers every new configuration one optional operation away from here, before any of them is
   * searched: a long run of optional operations is then dominated by a shorter one reaching the
   * same state (see remember), instead of being searched first because depth-first got there first.
   */
  private optionalChildren(state: S): OptionalLevel<S> {
    const { n, next, ops, model, optional, linearized } = this;
    const level: OptionalLevel<S> = { ops: [], states: [], pos: 0 };
    for (let e = next[this.head]!; e !== -1 && e < n; e = next[e]!) {
      if (optional[e] === 0) continue;
      const op = ops[e]!;
      const r = model.step(state, op.input, op.output);
      if (!r.ok) continue;
      linearized.set(e);
      if (this.remember(r.state)) {
        level.ops.push(e);
        level.states.push(r.state);
      }
      linearized.clear(e);
    }
    return level;
  }

  /**
   * Records the configuration just reached (linearized set, `state`) and returns true, or returns
   * false when it need not be explored: one with the same known operations linearized, the same
   * state and a subset of its optional ones was reached before (including this very one). That one
   * has every completion this one has, because optional operations may be left out, so searching
   * it (or having searched it) covers this one.
   */
  private remember(state: S): boolean {
    const { model, linearized, optionalMask } = this;
    const key = this.known.hash() ^ (model.hash ? Math.imul(model.hash(state), 0x9e3779b1) : 0);
    const bucket = this.seen.get(key);
    if (bucket === undefined) {
      this.seen.set(key, [{ bits: linearized.clone(), state }]);
      return true;
    }
    for (let i = 0; i < bucket.length; i++) {
      const seen = bucket[i]!;
      if (seen.bits.isSubsetOf(linearized) && linearized.isSubsetOfUnion(seen.bits, optionalMask) && model.equal(seen.state, state)) return false;
    }
    bucket.push({ bits: linearized.clone(), state });
    return true;
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
