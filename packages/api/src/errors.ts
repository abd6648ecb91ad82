import { createRequire } from 'node:module';
import type * as Grpc from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';

// gRPC status codes are fixed by the gRPC spec; spelled out here so that
// importing the errors does not load grpc-js (the CLI's start-up cost).
// errors.test.ts checks them against grpc-js.
const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;
type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/**
 * The closed set of error codes Shoal uses everywhere. Guards test the code,
 * never `instanceof`, so an error that crossed a process boundary (and was
 * rebuilt from gRPC status) still classifies the same way.
 */
export const ErrorCode = {
  Unknown: 'Unknown',
  InvalidArgument: 'InvalidArgument',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  FailedPrecondition: 'FailedPrecondition',
  Conflict: 'Conflict',
  Unavailable: 'Unavailable',
  NotLeader: 'NotLeader',
  Canceled: 'Canceled',
  DeadlineExceeded: 'DeadlineExceeded',
  PermissionDenied: 'PermissionDenied',
  Unimplemented: 'Unimplemented',
  DataLoss: 'DataLoss',
  Internal: 'Internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ShoalErrorOptions {
  cause?: unknown;
}

/** The one base error. `message` is a whole sentence a user can act on. */
export class ShoalError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: ShoalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShoalError';
    this.code = code;
  }
}

const make = (code: ErrorCode) => (message: string, options?: ShoalErrorOptions) =>
  new ShoalError(code, message, options);

export const invalidArgument = make(ErrorCode.InvalidArgument);
export const notFound = make(ErrorCode.NotFound);
export const alreadyExists = make(ErrorCode.AlreadyExists);
export const failedPrecondition = make(ErrorCode.FailedPrecondition);
export const conflict = make(ErrorCode.Conflict);
export const unavailable = make(ErrorCode.Unavailable);
export const internal = make(ErrorCode.Internal);
export const unimplemented = make(ErrorCode.Unimplemented);
export const dataLoss = make(ErrorCode.DataLoss);

/** The code of any thrown value; errors that are not ours are Unknown. */
export function errorCode(err: unknown): ErrorCode {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err).code;
    if (typeof code === 'string' && code in ErrorCode) return code as ErrorCode;
  }
  if (isAbortError(err)) return ErrorCode.Canceled;
  return ErrorCode.Unknown;
}

export const isNotFound = (err: unknown): boolean => errorCode(err) === ErrorCode.NotFound;
export const isAlreadyExists = (err: unknown): boolean => errorCode(err) === ErrorCode.AlreadyExists;
export const isInvalidArgument = (err: unknown): boolean => errorCode(err) === ErrorCode.InvalidArgument;
export const isConflict = (err: unknown): boolean => errorCode(err) === ErrorCode.Conflict;
export const isFailedPrecondition = (err: unknown): boolean =>
  errorCode(err) === ErrorCode.FailedPrecondition;
export const isUnavailable = (err: unknown): boolean => errorCode(err) === ErrorCode.Unavailable;

export function isAbortError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    'name' in err &&
    ((err).name === 'AbortError' ||
      (err).name === 'TimeoutError')
  );
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const toGrpcStatus: Record<ErrorCode, GrpcStatus> = {
  Unknown: GrpcStatus.UNKNOWN,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Conflict: GrpcStatus.ABORTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  NotLeader: GrpcStatus.UNAVAILABLE,
  Canceled: GrpcStatus.CANCELLED,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  DataLoss: GrpcStatus.DATA_LOSS,
  Internal: GrpcStatus.INTERNAL,
};

const CODE_KEY = 'shoal-error-code';
const requireHere = createRequire(import.meta.url);

/** Converts any error to a gRPC status error at the server edge. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = errorCode(err);
  // Only servers get here, and they have grpc-js loaded already.
  const { Metadata } = requireHere('@grpc/grpc-js') as typeof Grpc;
  const metadata = new Metadata();
  metadata.set(CODE_KEY, code);
  return { code: toGrpcStatus[code], details: errorMessage(err), metadata };
}

const fromGrpcStatus = new Map<number, ErrorCode>(
  Object.entries(toGrpcStatus)
    .filter(([code]) => code !== 'NotLeader' && code !== 'Conflict')
    .map(([code, st]) => [st, code as ErrorCode]),
);
fromGrpcStatus.set(GrpcStatus.ABORTED, ErrorCode.Conflict);

/** Rebuilds a ShoalError from a gRPC error at the client edge. */
export function fromServiceError(err: unknown): ShoalError {
  if (err instanceof ShoalError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e.code !== 'number') {
    return new ShoalError(errorCode(err), errorMessage(err), { cause: err });
  }
  const status: number = e.code;
  const sent = e.metadata?.get(CODE_KEY)[0];
  const code =
    typeof sent === 'string' && sent in ErrorCode
      ? (sent as ErrorCode)
      : (fromGrpcStatus.get(status) ?? ErrorCode.Unknown);
  let message = e.details ?? e.message ?? 'unknown error';
  if (status === GrpcStatus.UNAVAILABLE && sent === undefined) {
    message = `cannot reach the Shoal daemon (${message}); is shoald running?`;
  }
  return new ShoalError(code, message, { cause: err });
}
