// The KV service's errors at the gRPC edge: a status code plus metadata that
// carries the Shoal error code, the leader (for redirects) and whether a
// failed write may still take effect.
import * as grpc from '@grpc/grpc-js';

export const META_CODE = 'shoal-error-code';
export const META_LEADER_ID = 'shoal-leader-id';
export const META_LEADER_CLIENT = 'shoal-leader-client-addr';
export const META_INDETERMINATE = 'shoal-indeterminate';

const STATUS: Record<string, grpc.status> = {
  NotLeader: grpc.status.UNAVAILABLE,
  Unavailable: grpc.status.UNAVAILABLE,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  Internal: grpc.status.INTERNAL,
  Canceled: grpc.status.CANCELLED,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
};

/** What a KV client sees when a call fails. Test `code`, not `instanceof`. */
export class KvError extends Error {
  readonly code: string;
  readonly leaderId: string | undefined;
  readonly leaderClientAddr: string | undefined;
  /** True when a failed write may still have been applied (or may be applied later). */
  readonly indeterminate: boolean;

  constructor(code: string, message: string, opts: { leaderId?: string; leaderClientAddr?: string; indeterminate?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KvError';
    this.code = code;
    this.leaderId = opts.leaderId;
    this.leaderClientAddr = opts.leaderClientAddr;
    this.indeterminate = opts.indeterminate ?? false;
  }
}

/** Server edge: any error → a grpc status error with Shoal metadata. */
export function toGrpcError(
  err: unknown,
  leaderClientAddr: (leaderId: string) => string | undefined,
): Partial<grpc.ServiceError> {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; leaderId?: unknown; indeterminate?: unknown };
  let code = typeof e.code === 'string' && e.code in STATUS ? e.code : 'Internal';
  if (e.name === 'AbortError' || e.name === 'TimeoutError') code = 'Canceled';
  const metadata = new grpc.Metadata();
  metadata.set(META_CODE, code);
  if (typeof e.leaderId === 'string' && e.leaderId !== '') {
    metadata.set(META_LEADER_ID, e.leaderId);
    const addr = leaderClientAddr(e.leaderId);
    if (addr) metadata.set(META_LEADER_CLIENT, addr);
  }
  if (e.indeterminate === true) metadata.set(META_INDETERMINATE, '1');
  return { code: STATUS[code] ?? grpc.status.INTERNAL, details: typeof e.message === 'string' ? e.message : String(err), metadata };
}

/** grpc-js details of UNAVAILABLE calls that never reached a server. */
const NEVER_SENT = /No connection established|ECONNREFUSED|Channel closed before call started|Stream refused by server/;

/** Client edge: a grpc error → KvError. Failures where the request may have been processed are indeterminate. */
export function fromGrpcError(err: grpc.ServiceError): KvError {
  const md = err.metadata;
  const str = (k: string): string | undefined => {
    const v = md?.get(k)[0];
    return v === undefined ? undefined : String(v);
  };
  const shoal = str(META_CODE);
  const opts: { leaderId?: string; leaderClientAddr?: string; indeterminate?: boolean; cause?: unknown } = { cause: err };
  const leaderId = str(META_LEADER_ID);
  const leaderClientAddr = str(META_LEADER_CLIENT);
  if (leaderId) opts.leaderId = leaderId;
  if (leaderClientAddr) opts.leaderClientAddr = leaderClientAddr;
  if (shoal) {
    opts.indeterminate = str(META_INDETERMINATE) === '1';
    return new KvError(shoal, err.details || err.message, opts);
  }
  // No Shoal code: the failure is in the transport. Only "the request never left" is certainly
  // harmless. grpc-js says "Connection dropped" when a connection breaks mid-call (the server may
  // have applied the write), so a bare /connect/ must not match here.
  const neverSent = err.code === grpc.status.UNAVAILABLE && NEVER_SENT.test(err.details);
  opts.indeterminate = !neverSent;
  const code = err.code === grpc.status.DEADLINE_EXCEEDED ? 'DeadlineExceeded' : err.code === grpc.status.CANCELLED ? 'Canceled' : 'Unavailable';
  return new KvError(code, `The KV call failed: ${err.details || err.message}.`, opts);
}
