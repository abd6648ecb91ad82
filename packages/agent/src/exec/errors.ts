// The errors a Controller raises that the step function treats specially.
// Guards test the `exec` field, never `instanceof`, so they also classify
// errors built elsewhere (a fake executor, a test).
import { ShoalError, ErrorCode, isAbortError } from '@shoal/api';

export type ExecErrorKind = 'prepared' | 'started' | 'exit' | 'temporary';

/** A Controller error with a meaning for the step function. */
export class ExecError extends ShoalError {
  readonly exec: ExecErrorKind;
  /** For `exit`: the process's exit code. */
  readonly exitCode: number;

  constructor(kind: ExecErrorKind, message: string, o: { exitCode?: number; cause?: unknown; code?: ErrorCode } = {}) {
    super(o.code ?? ErrorCode.FailedPrecondition, message, { cause: o.cause });
    this.name = 'ExecError';
    this.exec = kind;
    this.exitCode = o.exitCode ?? 0;
  }
}

const kindOf = (err: unknown): ExecErrorKind | undefined =>
  typeof err === 'object' && err !== null && 'exec' in err ? ((err as { exec: ExecErrorKind }).exec) : undefined;

/** prepare() found the task already prepared (e.g. after an agent restart): not an error. */
export const errTaskPrepared = (): ExecError => new ExecError('prepared', 'task: already prepared');
/** start() found the task already started: not an error. */
export const errTaskStarted = (): ExecError => new ExecError('started', 'task: already started');
/** wait() saw the process exit with a non-zero code. */
export const exitError = (code: number, detail = ''): ExecError =>
  new ExecError('exit', `task: non-zero exit (${code})${detail ? `: ${detail}` : ''}`, { exitCode: code });
/** A failure worth retrying (the engine was busy, a lock was held): the task stays where it is. */
export const temporaryError = (message: string, cause?: unknown): ExecError =>
  new ExecError('temporary', message, { cause, code: ErrorCode.Unavailable });

export const isTaskPrepared = (err: unknown): boolean => kindOf(err) === 'prepared';
export const isTaskStarted = (err: unknown): boolean => kindOf(err) === 'started';
export const isExitError = (err: unknown): err is ExecError => kindOf(err) === 'exit';
export const isTemporary = (err: unknown): boolean => kindOf(err) === 'temporary';

/** Errors that leave the task where it is, to be tried again: aborts and temporary failures. */
export const isRetryable = (err: unknown): boolean => isAbortError(err) || isTemporary(err);
