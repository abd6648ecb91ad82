// Raft's errors, turned into the ShoalErrors the rest of the manager and its
// clients understand. packages/raft cannot import @shoal/api, so its errors
// only share the code strings; this is the one place they are translated.
import { ErrorCode, ShoalError, errorCode } from '@shoal/api';

/** How many voting managers this one can reach, for "no quorum" messages. */
export interface Reach {
  /** Voters heard from recently, this member included when it votes. */
  reachable: number;
  /** All voters. */
  voters: number;
}

export interface NotLeaderErrorOptions {
  cause?: unknown;
  leaderId?: string;
  leaderAddr?: string;
  indeterminate?: boolean;
}

/**
 * A change went to a manager that is not the leader. Carries where to retry
 * so a client or a forwarding manager can redirect without parsing text.
 */
export class NotLeaderError extends ShoalError {
  /** The leader's member ID, when known. */
  readonly leaderId: string | undefined;
  /** The leader's Raft address, when known. */
  readonly leaderAddr: string | undefined;
  /** True when the change reached a leader's log and may still take effect. */
  readonly indeterminate: boolean;

  constructor(message: string, options: NotLeaderErrorOptions = {}) {
    super(ErrorCode.NotLeader, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'NotLeaderError';
    this.leaderId = options.leaderId;
    this.leaderAddr = options.leaderAddr;
    this.indeterminate = options.indeterminate ?? false;
  }
}

/** The fields a RaftNodeError carries (read structurally: guards test codes, not classes). */
interface RaftErrorFields {
  code?: unknown;
  message?: unknown;
  leaderId?: unknown;
  leaderAddr?: unknown;
  indeterminate?: unknown;
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Majority of `voters`. */
export const quorumOf = (voters: number): number => Math.floor(voters / 2) + 1;

/**
 * The Unavailable error for "no leader": says how many managers are
 * reachable, and whether that is a quorum (then an election is just not
 * finished) or not (then an operator must act).
 */
export function noQuorumError(reach: Reach, indeterminate: boolean, cause?: unknown): ShoalError {
  const need = quorumOf(reach.voters);
  const maybe = indeterminate ? ' The change may still be applied if this manager rejoins the majority.' : '';
  const message =
    reach.reachable >= need
      ? `No leader is elected yet (${reach.reachable} of ${reach.voters} managers reachable); retry in a moment.${maybe}`
      : `No quorum: ${reach.reachable} of ${reach.voters} managers reachable; ${need} are needed to make changes, so restart the missing managers or reconnect them, then retry.${maybe}`;
  return new ShoalError(ErrorCode.Unavailable, message, cause === undefined ? {} : { cause });
}

/**
 * Turns an error from RaftNode (propose, readIndex, membership calls) into a
 * ShoalError: NotLeader with a known leader becomes a NotLeaderError naming
 * it; NotLeader without one becomes Unavailable "no quorum: N of M managers
 * reachable" (computed by `reach`); other Raft codes keep their code with the
 * message. Aborts and errors that are not Raft's pass through unchanged.
 */
export function fromRaftError(err: unknown, reach: () => Reach): unknown {
  if (typeof err !== 'object' || err === null || err instanceof ShoalError) return err;
  const e = err as RaftErrorFields;
  if (typeof e.code !== 'string') return err;
  const code = errorCode(err);
  const indeterminate = e.indeterminate === true;
  const message = typeof e.message === 'string' ? e.message : `Raft failed with ${code}.`;
  switch (code) {
    case ErrorCode.NotLeader: {
      const leaderId = asString(e.leaderId);
      if (leaderId === undefined) return noQuorumError(reach(), indeterminate, err);
      const leaderAddr = asString(e.leaderAddr);
      const where = leaderAddr ? `${leaderId} (${leaderAddr})` : leaderId;
      const what = indeterminate
        ? 'This manager lost the leadership before the change was applied, and the change may still take effect'
        : 'This manager is not the leader';
      const opts: NotLeaderErrorOptions = { cause: err, leaderId, indeterminate };
      if (leaderAddr) opts.leaderAddr = leaderAddr;
      return new NotLeaderError(`${what}; send changes to the leader ${where}.`, opts);
    }
    case ErrorCode.Unavailable:
    case ErrorCode.Internal:
    case ErrorCode.FailedPrecondition:
    case ErrorCode.InvalidArgument:
    case ErrorCode.DataLoss:
      return new ShoalError(code, message, { cause: err });
    default:
      return err;
  }
}
