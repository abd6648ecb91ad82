// The data the Raft core works on. Plain values: no I/O, no encoding. The
// storage and transport layers encode them (protobuf) at the edges.

/** A member's ID. Non-empty; '' means "none" (e.g. no vote cast). */
export type NodeId = string;

export const EntryType = {
  Normal: 0,
  /** `data` is an encoded ConfChange. */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. `data` is opaque to Raft; an empty Normal entry is a leader's no-op. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** The membership: voters decide, learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export const ConfChangeType = {
  AddNode: 'AddNode',
  AddLearner: 'AddLearner',
  RemoveNode: 'RemoveNode',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** One membership change (one server at a time). AddNode of a learner promotes it. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft (e.g. the new member's address). */
  context: Uint8Array;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The application's state at `metadata.index`, opaque to Raft. */
  data: Uint8Array;
}

export const MessageType = {
  /** Local: start an election. */
  Hup: 'Hup',
  /** Local: the leader's heartbeat tick. */
  Beat: 'Beat',
  /** Local or forwarded: propose entries. */
  Prop: 'Prop',
  App: 'App',
  AppResp: 'AppResp',
  Vote: 'Vote',
  VoteResp: 'VoteResp',
  PreVote: 'PreVote',
  PreVoteResp: 'PreVoteResp',
  Snap: 'Snap',
  Heartbeat: 'Heartbeat',
  HeartbeatResp: 'HeartbeatResp',
  /** Local: the transport could not deliver to `from`; the leader probes it again. */
  Unreachable: 'Unreachable',
  /** Local: the result of sending a snapshot. */
  SnapStatus: 'SnapStatus',
  /** Local: check quorum. */
  CheckQuorum: 'CheckQuorum',
  TransferLeader: 'TransferLeader',
  TimeoutNow: 'TimeoutNow',
  ReadIndex: 'ReadIndex',
  ReadIndexResp: 'ReadIndexResp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** A message between members (or a local input). Fields unused by a type are zero/empty. */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** The term of the entry at `index` (App), or the candidate's last term (Vote). */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  /** ReadIndex request context, echoed back. */
  context?: Uint8Array;
}

/** A linearizable read is safe to serve once the applied index reaches `index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export const StateType = {
  Follower: 'Follower',
  PreCandidate: 'PreCandidate',
  Candidate: 'Candidate',
  Leader: 'Leader',
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

/** Volatile state, reported when it changes; never persisted. */
export interface SoftState {
  lead: NodeId;
  state: StateType;
}

/**
 * One batch of work for the host loop, handled strictly in this order:
 * persist hardState + entries (and snapshot) with one fsync when `mustSync`,
 * send `messages`, apply `snapshot` then `committedEntries`, then `advance()`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  /** To append to stable storage before sending messages. */
  entries: Entry[];
  snapshot?: Snapshot;
  /** Committed and safe to apply. */
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

/**
 * The log as the core sees it (etcd's Storage). The host loop appends to it
 * only after the entries are durable.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most `maxBytes` of data (at least one entry). Throws Compacted/Unavailable. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; throws Compacted/Unavailable. */
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}
