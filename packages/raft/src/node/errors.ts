// Errors the host loop hands to callers. packages/raft may not import
// @shoal/api, so the codes are the same strings as @shoal/api's ErrorCode:
// its errorCode() guards classify these errors once they reach the manager.
import type { NodeId } from '../core/types.js';

export const RaftNodeErrorCode = {
  /** This member is not the leader (or lost leadership): retry on the leader named in the error. */
  NotLeader: 'NotLeader',
  /** Try again later: no leader yet, a membership change in flight, the node is stopping, a read timed out. */
  Unavailable: 'Unavailable',
  /** The request cannot be done in the cluster's current state (e.g. removing an unknown member). */
  FailedPrecondition: 'FailedPrecondition',
  InvalidArgument: 'InvalidArgument',
  /** The node hit a fatal error (disk) and stopped. */
  Internal: 'Internal',
} as const;
export type RaftNodeErrorCode = (typeof RaftNodeErrorCode)[keyof typeof RaftNodeErrorCode];

export interface RaftNodeErrorOptions {
  cause?: unknown;
  /** The current leader, when known. */
  leaderId?: NodeId;
  /** The leader's transport address, when known. */
  leaderAddr?: string;
  /**
   * True when the proposal had been appended to the leader's log before the
   * failure: it may still commit and apply. False means it certainly did not
   * and will not take effect, so retrying is safe.
   */
  indeterminate?: boolean;
}

/** Test `code`, not `instanceof`. */
export class RaftNodeError extends Error {
  readonly code: RaftNodeErrorCode;
  readonly leaderId: NodeId | undefined;
  readonly leaderAddr: string | undefined;
  readonly indeterminate: boolean;

  constructor(code: RaftNodeErrorCode, message: string, options: RaftNodeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RaftNodeError';
    this.code = code;
    this.leaderId = options.leaderId;
    this.leaderAddr = options.leaderAddr;
    this.indeterminate = options.indeterminate ?? false;
  }
}

const hasCode = (err: unknown, code: string): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;

export const isNotLeader = (err: unknown): boolean => hasCode(err, RaftNodeErrorCode.NotLeader);

/** True when a failed proposal may still have been applied (see RaftNodeErrorOptions.indeterminate). */
export const isIndeterminate = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { indeterminate?: unknown }).indeterminate === true;

export function notLeader(why: string, leaderId: NodeId, leaderAddr: string | undefined, indeterminate: boolean): RaftNodeError {
  const where = leaderId === '' ? 'no leader is known yet; retry shortly' : `retry on the leader ${leaderId}${leaderAddr ? ` (${leaderAddr})` : ''}`;
  const opts: RaftNodeErrorOptions = { indeterminate };
  if (leaderId !== '') opts.leaderId = leaderId;
  if (leaderAddr !== undefined) opts.leaderAddr = leaderAddr;
  return new RaftNodeError(RaftNodeErrorCode.NotLeader, `${why}: ${where}.`, opts);
}
