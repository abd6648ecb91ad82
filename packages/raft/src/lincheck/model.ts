/**
 * One completed (or possibly completed) client operation in a history.
 *
 * `call` and `return` are times on one monotonic clock. An operation whose outcome is unknown
 * (a time-out, a crashed client: Jepsen's `:info`) has `output: undefined` and `return: Infinity`:
 * it may take effect at any point after its call, or never, which is the same thing as taking
 * effect after everything else. Operations that definitely did not happen are left out entirely.
 */
export interface Operation<I, O> {
  /** The client (Jepsen "process") that issued it; informational, used in reports. */
  readonly clientId: number;
  readonly input: I;
  readonly call: number;
  /** undefined = unknown outcome. */
  readonly output: O | undefined;
  readonly return: number;
}

/** The result of applying one operation to a state in the sequential specification. */
export interface StepResult<S> {
  /** false when the observed output is impossible from this state. */
  readonly ok: boolean;
  readonly state: S;
}

/**
 * A sequential specification. States must be treated as immutable values: `step` returns a new
 * state rather than changing the one it was given, because the checker keeps old states on its
 * backtracking stack and in its cache.
 */
export interface Model<S, I, O> {
  readonly name: string;
  /** The state before any operation. */
  init(): S;
  /**
   * Apply `input` observed with `output` to `state`. With `output` undefined (unknown outcome) the
   * step must be ok from every state: some outcome was possible, and the checker relies on being
   * able to place such an operation last.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  equal(a: S, b: S): boolean;
  /**
   * Optional 32-bit hash consistent with `equal`; spreads the checker's cache so that each lookup
   * compares fewer states. Worth giving when states are cheap to hash.
   */
  hash?(state: S): number;
  /**
   * Split a history into independent sub-histories (P-compositionality, e.g. one per key): the
   * whole is linearizable iff every part is. Omitted = the history is checked as one part.
   */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** A label for a part in reports ("key 7"). */
  describePartition?(part: readonly Operation<I, O>[], index: number): string;
  /** A one-line human description of an operation, for counterexamples. */
  describeOperation?(input: I, output: O | undefined): string;
}

/** Thrown by the parsers and the recorder for malformed input. */
export class LincheckInputError extends Error {
  readonly code = 'InvalidArgument';
  constructor(message: string) {
    super(message);
    this.name = 'LincheckInputError';
  }
}
