import test from 'ava';
import { Metadata, status } from '@grpc/grpc-js';
import { ErrorCode, fromServiceError, ShoalError, toServiceError } from './errors.js';

const GRPC_STATUS: Record<ErrorCode, status> = {
  Unknown: status.UNKNOWN,
  InvalidArgument: status.INVALID_ARGUMENT,
  NotFound: status.NOT_FOUND,
  AlreadyExists: status.ALREADY_EXISTS,
  FailedPrecondition: status.FAILED_PRECONDITION,
  Conflict: status.ABORTED,
  Unavailable: status.UNAVAILABLE,
  NotLeader: status.UNAVAILABLE,
  Canceled: status.CANCELLED,
  DeadlineExceeded: status.DEADLINE_EXCEEDED,
  PermissionDenied: status.PERMISSION_DENIED,
  Unimplemented: status.UNIMPLEMENTED,
  DataLoss: status.DATA_LOSS,
  Internal: status.INTERNAL,
};

test('every error code goes out as grpc-js status code and comes back unchanged', (t) => {
  for (const code of Object.values(ErrorCode)) {
    const sent = toServiceError(new ShoalError(code, `it broke: ${code}`));
    t.is(sent.code, GRPC_STATUS[code], code);
    t.true(sent.metadata instanceof Metadata);
    const back = fromServiceError({ ...sent, message: `${sent.code ?? ''} ${sent.details ?? ''}` });
    t.is(back.code, code);
    t.is(back.message, `it broke: ${code}`);
  }
});

test('a status without our metadata is classified by its grpc-js code', (t) => {
  const cases: [status, ErrorCode][] = [
    [status.NOT_FOUND, ErrorCode.NotFound],
    [status.ABORTED, ErrorCode.Conflict],
    [status.INVALID_ARGUMENT, ErrorCode.InvalidArgument],
    [status.RESOURCE_EXHAUSTED, ErrorCode.Unknown],
  ];
  for (const [code, want] of cases) {
    t.is(fromServiceError({ code, details: 'x', metadata: new Metadata() }).code, want, String(code));
  }
});

test('an unreachable daemon says so and what to do', (t) => {
  const err = fromServiceError({ code: status.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() });
  t.is(err.code, ErrorCode.Unavailable);
  t.is(err.message, 'cannot reach the Shoal daemon (No connection established); is shoald running?');
});
