// Storage errors. packages/raft may not import @shoal/api, so the error carries
// the same `code` string as @shoal/api's ErrorCode.DataLoss: its errorCode() guard
// classifies it correctly once it reaches the manager.

/** What an operator should do when a member's log cannot be trusted. */
export const DATA_LOSS_ADVICE = 'restore this member from a snapshot or remove and re-add it';

/**
 * Stored Raft state is damaged in a way that cannot be a crash's torn tail, so
 * starting would risk forgetting acknowledged writes. The node must stop.
 */
export class DataLossError extends Error {
  readonly code = 'DataLoss';
  /** The damaged file (absolute path). */
  readonly file: string;
  /** Byte offset of the damage in `file`, when there is one. */
  readonly offset: number | undefined;

  constructor(file: string, offset: number | undefined, what: string, options?: { cause?: unknown }) {
    const at = offset === undefined ? file : `${file} at byte offset ${offset}`;
    super(`Raft storage is corrupt in ${at}: ${what}; ${DATA_LOSS_ADVICE}.`, options);
    this.name = 'DataLossError';
    this.file = file;
    this.offset = offset;
  }
}

/** True for a DataLossError, also one rebuilt elsewhere with the same code. */
export function isDataLoss(err: unknown): err is DataLossError {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'DataLoss';
}
