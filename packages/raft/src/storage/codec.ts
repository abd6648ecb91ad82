// Protobuf encoding of Raft's data (proto/shoal/raft/v1/raft.proto) for the WAL,
// snapshot files and, later, the transport.
//
// Why protobufjs at run time rather than @shoal/api's generated types: packages/raft
// is a leaf and may not import @shoal/api. The .proto file is the one source of
// truth; it is parsed once, on first use, from the repository's proto/ directory
// (the same layout @shoal/api's engineProto() relies on). protobufjs decodes
// uint64 as Long objects; every such field is turned back into a number here, which
// is exact up to 2^53 (far beyond any log index or term Raft will reach).
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  Snapshot,
} from '../core/types.js';
import { ConfChangeType as ConfChangeTypes, MessageType as MessageTypes } from '../core/types.js';

/** Where proto/ is, from packages/raft/{src,dist}/storage/. */
export const RAFT_PROTO_FILE = fileURLToPath(new URL('../../../../proto/shoal/raft/v1/raft.proto', import.meta.url));

interface Types {
  entry: protobuf.Type;
  hardState: protobuf.Type;
  confState: protobuf.Type;
  confChange: protobuf.Type;
  snapshot: protobuf.Type;
  message: protobuf.Type;
  messageBatch: protobuf.Type;
  walSnapshot: protobuf.Type;
}

let types: Types | undefined;

function t(): Types {
  if (types) return types;
  const root = new protobuf.Root();
  root.loadSync(RAFT_PROTO_FILE, { keepCase: true });
  const get = (name: string) => root.lookupType(`shoal.raft.v1.${name}`);
  types = {
    entry: get('RaftEntry'),
    hardState: get('RaftHardState'),
    confState: get('RaftConfState'),
    confChange: get('RaftConfChange'),
    snapshot: get('RaftSnapshot'),
    message: get('RaftMessage'),
    messageBatch: get('RaftMessageBatch'),
    walSnapshot: get('RaftWalSnapshot'),
  };
  return types;
}

// The wire shapes as protobufjs hands them back (uint64 may be a Long).
type U64 = number | { toNumber(): number };
interface WireEntry { term: U64; index: U64; type: number; data: Uint8Array }
interface WireHardState { term: U64; vote: string; commit: U64 }
interface WireConfState { voters: string[]; learners: string[] }
interface WireConfChange { type: number; node_id: string; context: Uint8Array }
interface WireSnapshot {
  metadata?: { index: U64; term: U64; conf_state?: WireConfState | null } | null;
  data: Uint8Array;
}
interface WireMessage {
  type: number;
  from: string;
  to: string;
  term: U64;
  log_term: U64;
  index: U64;
  entries: WireEntry[];
  commit: U64;
  reject: boolean;
  reject_hint: U64;
  snapshot?: WireSnapshot | null;
  context?: Uint8Array | null;
}

function num(v: U64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const CONF_CHANGE_TYPES: ConfChangeType[] = [
  ConfChangeTypes.AddNode,
  ConfChangeTypes.AddLearner,
  ConfChangeTypes.RemoveNode,
];
// Same order as RaftMessageType in raft.proto.
const MESSAGE_TYPES: MessageType[] = [
  MessageTypes.Hup,
  MessageTypes.Beat,
  MessageTypes.Prop,
  MessageTypes.App,
  MessageTypes.AppResp,
  MessageTypes.Vote,
  MessageTypes.VoteResp,
  MessageTypes.PreVote,
  MessageTypes.PreVoteResp,
  MessageTypes.Snap,
  MessageTypes.Heartbeat,
  MessageTypes.HeartbeatResp,
  MessageTypes.Unreachable,
  MessageTypes.SnapStatus,
  MessageTypes.CheckQuorum,
  MessageTypes.TransferLeader,
  MessageTypes.TimeoutNow,
  MessageTypes.ReadIndex,
  MessageTypes.ReadIndexResp,
];

function enumIndex<T>(values: readonly T[], v: T, what: string): number {
  const i = values.indexOf(v);
  if (i < 0) throw new TypeError(`Unknown ${what} ${String(v)}: it has no protobuf encoding.`);
  return i;
}

function enumValue<T>(values: readonly T[], i: number, what: string): T {
  const v = values[i];
  if (v === undefined) throw new TypeError(`Unknown ${what} number ${i} in encoded data: written by a newer version?`);
  return v;
}

const wireEntry = (e: Entry) => ({ term: e.term, index: e.index, type: e.type, data: e.data });
const fromWireEntry = (w: WireEntry): Entry => ({
  term: num(w.term),
  index: num(w.index),
  type: (w.type === 1 ? 1 : 0) satisfies EntryType,
  data: w.data,
});
const fromWireConfState = (w: WireConfState | null | undefined): ConfState => ({
  voters: w ? [...w.voters] : [],
  learners: w ? [...w.learners] : [],
});
const wireSnapshot = (s: Snapshot) => ({
  metadata: {
    index: s.metadata.index,
    term: s.metadata.term,
    conf_state: { voters: s.metadata.confState.voters, learners: s.metadata.confState.learners },
  },
  data: s.data,
});
const fromWireSnapshot = (w: WireSnapshot): Snapshot => ({
  metadata: {
    index: num(w.metadata?.index),
    term: num(w.metadata?.term),
    confState: fromWireConfState(w.metadata?.conf_state),
  },
  data: w.data,
});

/** Encodes one log entry. */
export function encodeEntry(e: Entry): Uint8Array {
  return t().entry.encode(wireEntry(e)).finish();
}
/** Decodes one log entry. Throws (protobufjs' error) on malformed bytes. */
export function decodeEntry(b: Uint8Array): Entry {
  return fromWireEntry(t().entry.decode(b) as unknown as WireEntry);
}

export function encodeHardState(h: HardState): Uint8Array {
  return t().hardState.encode({ term: h.term, vote: h.vote, commit: h.commit }).finish();
}
/** Throws on malformed bytes. */
export function decodeHardState(b: Uint8Array): HardState {
  const w = t().hardState.decode(b) as unknown as WireHardState;
  return { term: num(w.term), vote: w.vote, commit: num(w.commit) };
}

export function encodeConfState(c: ConfState): Uint8Array {
  return t().confState.encode({ voters: c.voters, learners: c.learners }).finish();
}
/** Throws on malformed bytes. */
export function decodeConfState(b: Uint8Array): ConfState {
  return fromWireConfState(t().confState.decode(b) as unknown as WireConfState);
}

/**
 * Encodes a membership change as a RaftConfChange, for APIs and tools. Not the
 * `data` of a ConfChange entry: the core reads that in its own layout
 * (core/conf-change.ts). Throws TypeError on an unknown type.
 */
export function encodeConfChangeProto(c: ConfChange): Uint8Array {
  return t()
    .confChange.encode({
      type: enumIndex(CONF_CHANGE_TYPES, c.type, 'conf change type'),
      node_id: c.nodeId,
      context: c.context,
    })
    .finish();
}
/** Decodes a RaftConfChange. Throws on malformed bytes or an unknown change type. */
export function decodeConfChangeProto(b: Uint8Array): ConfChange {
  const w = t().confChange.decode(b) as unknown as WireConfChange;
  return { type: enumValue(CONF_CHANGE_TYPES, w.type, 'conf change type'), nodeId: w.node_id, context: w.context };
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  return t().snapshot.encode(wireSnapshot(s)).finish();
}
/** Throws on malformed bytes. */
export function decodeSnapshot(b: Uint8Array): Snapshot {
  return fromWireSnapshot(t().snapshot.decode(b) as unknown as WireSnapshot);
}

function wireMessage(m: Message) {
  return {
    type: enumIndex(MESSAGE_TYPES, m.type, 'message type'),
    from: m.from,
    to: m.to,
    term: m.term,
    log_term: m.logTerm,
    index: m.index,
    entries: m.entries.map(wireEntry),
    commit: m.commit,
    reject: m.reject,
    reject_hint: m.rejectHint,
    ...(m.snapshot ? { snapshot: wireSnapshot(m.snapshot) } : {}),
    ...(m.context ? { context: m.context } : {}),
  };
}

function fromWireMessage(w: WireMessage): Message {
  const m: Message = {
    type: enumValue(MESSAGE_TYPES, w.type, 'message type'),
    from: w.from,
    to: w.to,
    term: num(w.term),
    logTerm: num(w.log_term),
    index: num(w.index),
    entries: w.entries.map(fromWireEntry),
    commit: num(w.commit),
    reject: w.reject,
    rejectHint: num(w.reject_hint),
  };
  if (w.snapshot) m.snapshot = fromWireSnapshot(w.snapshot);
  if (w.context) m.context = w.context;
  return m;
}

/** Encodes a message for the transport. Throws TypeError on an unknown message type. */
export function encodeMessage(m: Message): Uint8Array {
  return t().message.encode(wireMessage(m)).finish();
}
/** Throws on malformed bytes or an unknown message type. */
export function decodeMessage(b: Uint8Array): Message {
  return fromWireMessage(t().message.decode(b) as unknown as WireMessage);
}

/** Encodes several messages as one frame. Throws TypeError on an unknown message type. */
export function encodeMessageBatch(ms: readonly Message[]): Uint8Array {
  return t().messageBatch.encode({ messages: ms.map(wireMessage) }).finish();
}
/** Throws on malformed bytes or an unknown message type. */
export function decodeMessageBatch(b: Uint8Array): Message[] {
  const w = t().messageBatch.decode(b) as unknown as { messages: WireMessage[] };
  return w.messages.map(fromWireMessage);
}

/** Where a snapshot was taken: the WAL records it so a reader can start there. */
export interface SnapshotMark {
  index: number;
  term: number;
}

export function encodeWalSnapshot(s: SnapshotMark): Uint8Array {
  return t().walSnapshot.encode({ index: s.index, term: s.term }).finish();
}
/** Throws on malformed bytes. */
export function decodeWalSnapshot(b: Uint8Array): SnapshotMark {
  const w = t().walSnapshot.decode(b) as unknown as { index: U64; term: U64 };
  return { index: num(w.index), term: num(w.term) };
}
