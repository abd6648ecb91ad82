import { LincheckInputError } from './model.js';
import type { Operation } from './model.js';

export interface HistoryRecorderOptions {
  /**
   * The time source (any unit, e.g. milliseconds). It should be monotonic; if it ever goes back,
   * the recorder holds time still rather than record a return before its call. Default:
   * performance.now.
   */
  readonly clock?: () => number;
}

interface Pending<I> {
  readonly clientId: number;
  readonly input: I;
  readonly call: number;
}

/**
 * Records client operations as they happen, for checking later with checkOperations. Call
 * `invoke` just before sending a request and exactly one of `ok` (a response arrived), `info` (the
 * outcome is unknown: time-out, lost connection) or `fail` (it definitely did not take effect, e.g.
 * refused by a follower before proposing) after. An operation never completed is reported as
 * unknown.
 */
export class HistoryRecorder<I, O> {
  private readonly clock: () => number;
  private last = -Infinity;
  private nextId = 0;
  private readonly pending = new Map<number, Pending<I>>();
  /** Completed operations by id; a failed one is a hole. */
  private readonly done = new Map<number, Operation<I, O>>();

  constructor(options: HistoryRecorderOptions = {}) {
    this.clock = options.clock ?? (() => performance.now());
  }

  private now(): number {
    const t = this.clock();
    if (t > this.last) this.last = t;
    return this.last;
  }

  /** Marks the start of an operation; returns its id. */
  invoke(clientId: number, input: I): number {
    const id = this.nextId++;
    this.pending.set(id, { clientId, input, call: this.now() });
    return id;
  }

  /**
   * The operation completed and the client saw `output`.
   * @throws LincheckInputError when opId is unknown or already completed.
   */
  ok(opId: number, output: O): void {
    const p = this.take(opId);
    this.done.set(opId, { clientId: p.clientId, input: p.input, call: p.call, output, return: this.now() });
  }

  /**
   * The outcome is unknown: it may have taken effect at any time from its call on, or never.
   * @throws LincheckInputError when opId is unknown or already completed.
   */
  info(opId: number): void {
    const p = this.take(opId);
    this.done.set(opId, { clientId: p.clientId, input: p.input, call: p.call, output: undefined, return: Infinity });
  }

  /**
   * The operation definitely did not take effect; it is left out of the history.
   * @throws LincheckInputError when opId is unknown or already completed.
   */
  fail(opId: number): void {
    this.take(opId);
  }

  /** Number of operations invoked so far. */
  get invoked(): number {
    return this.nextId;
  }

  /** The history so far in invocation order; operations still in flight count as unknown outcomes. */
  operations(): Operation<I, O>[] {
    const out: Operation<I, O>[] = [];
    for (let id = 0; id < this.nextId; id++) {
      const op = this.done.get(id);
      if (op) {
        out.push(op);
        continue;
      }
      const p = this.pending.get(id);
      if (p) out.push({ clientId: p.clientId, input: p.input, call: p.call, output: undefined, return: Infinity });
    }
    return out;
  }

  private take(opId: number): Pending<I> {
    const p = this.pending.get(opId);
    if (p === undefined) {
      const why = this.done.has(opId) || (opId >= 0 && opId < this.nextId) ? 'was already completed' : 'was never invoked';
      throw new LincheckInputError(`Operation ${opId} ${why}; complete each invoked operation exactly once.`);
    }
    this.pending.delete(opId);
    return p;
  }
}
