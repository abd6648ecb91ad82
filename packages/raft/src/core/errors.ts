// The core's typed errors. The core is a leaf (it may not import @shoal/api),
// so it carries its own closed set of codes; the host loop maps them to
// ShoalError at its edge (ProposalDropped -> NotLeader or Unavailable).

export const RaftErrorCode = {
  /** A proposal was dropped: no known leader, a leadership transfer is in flight, forwarding is off, or the uncommitted log is full. Retry later. */
  ProposalDropped: 'ProposalDropped',
  /** Storage: the requested index is older than the first retained entry (compacted into a snapshot). */
  Compacted: 'Compacted',
  /** Storage: the requested index is beyond the last entry. */
  Unavailable: 'Unavailable',
  /** Storage: a snapshot older than the one already held was offered. */
  SnapOutOfDate: 'SnapOutOfDate',
  /** Storage: the snapshot is being made; the leader retries later. */
  SnapshotTemporarilyUnavailable: 'SnapshotTemporarilyUnavailable',
  /** A local-only message type was passed to step() (use the dedicated method). */
  StepLocalMsg: 'StepLocalMsg',
  /** A response came from a member the leader does not track. */
  StepPeerNotFound: 'StepPeerNotFound',
  /** The configuration or an argument is invalid. */
  InvalidConfig: 'InvalidConfig',
} as const;
export type RaftErrorCode = (typeof RaftErrorCode)[keyof typeof RaftErrorCode];

/** Every error the core or MemoryStorage throws on purpose. Test `code`, not `instanceof`. */
export class RaftError extends Error {
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.name = 'RaftError';
    this.code = code;
  }
}

/** True when `err` is a RaftError-shaped value with the given code. */
export function isRaftError(err: unknown, code: RaftErrorCode): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === code;
}

export const isProposalDropped = (err: unknown): boolean => isRaftError(err, RaftErrorCode.ProposalDropped);
export const isCompacted = (err: unknown): boolean => isRaftError(err, RaftErrorCode.Compacted);
export const isUnavailable = (err: unknown): boolean => isRaftError(err, RaftErrorCode.Unavailable);

export const proposalDropped = (why: string): RaftError =>
  new RaftError(RaftErrorCode.ProposalDropped, `Proposal dropped: ${why}; retry once a leader is known.`);
export const compacted = (i: number, first: number): RaftError =>
  new RaftError(RaftErrorCode.Compacted, `Log index ${i} was compacted (the first retained index is ${first}); use the snapshot.`);
export const unavailable = (i: number, last: number): RaftError =>
  new RaftError(RaftErrorCode.Unavailable, `Log index ${i} is not available yet (the last index is ${last}).`);
