import test from 'ava';
import type { Message, Snapshot } from '../core/types.js';
import {
  decodeConfChangeProto,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeMessageBatch,
  decodeSnapshot,
  encodeConfChangeProto,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeMessageBatch,
  encodeSnapshot,
} from './codec.js';

const big = 2 ** 40 + 7;

test('an entry survives encoding, with indexes beyond 32 bits exact', (t) => {
  const e = { index: big, term: big + 1, type: 1 as const, data: Uint8Array.from([1, 2, 3]) };
  const back = decodeEntry(encodeEntry(e));
  t.deepEqual({ ...back, data: [...back.data] }, { ...e, data: [1, 2, 3] });
});

test('a hard state survives encoding, including the empty one', (t) => {
  t.deepEqual(decodeHardState(encodeHardState({ term: 5, vote: 'n2', commit: big })), { term: 5, vote: 'n2', commit: big });
  t.deepEqual(decodeHardState(encodeHardState({ term: 0, vote: '', commit: 0 })), { term: 0, vote: '', commit: 0 });
});

test('a conf change survives encoding for every change type', (t) => {
  for (const type of ['AddNode', 'AddLearner', 'RemoveNode'] as const) {
    const back = decodeConfChangeProto(encodeConfChangeProto({ type, nodeId: 'n4', context: Buffer.from('10.0.0.4:2377') }));
    t.is(back.type, type);
    t.is(back.nodeId, 'n4');
    t.is(Buffer.from(back.context).toString(), '10.0.0.4:2377');
  }
});

const snap: Snapshot = {
  metadata: { index: 100, term: 3, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } },
  data: Buffer.from('state'),
};

test('a snapshot survives encoding with its membership', (t) => {
  const back = decodeSnapshot(encodeSnapshot(snap));
  t.deepEqual(back.metadata, snap.metadata);
  t.is(Buffer.from(back.data).toString(), 'state');
});

test('messages survive encoding, with optional snapshot and context only when set', (t) => {
  const m: Message = {
    type: 'App', from: 'a', to: 'b', term: 4, logTerm: 3, index: 9, commit: 8, reject: false, rejectHint: 0,
    entries: [{ index: 10, term: 4, type: 0, data: Buffer.from('x') }],
  };
  const back = decodeMessage(encodeMessage(m));
  t.is(back.type, 'App');
  t.is(back.entries[0]?.index, 10);
  t.is(back.snapshot, undefined);
  t.is(back.context, undefined);
  const withBoth: Message = { ...m, type: 'Snap', entries: [], snapshot: snap, context: Buffer.from('ctx') };
  const back2 = decodeMessage(encodeMessage(withBoth));
  t.is(back2.snapshot?.metadata.index, 100);
  t.is(Buffer.from(back2.context ?? []).toString(), 'ctx');
  const empty: Message = { ...m, type: 'ReadIndex', entries: [], context: new Uint8Array(0) };
  t.is(decodeMessage(encodeMessage(empty)).context?.length, 0, 'an empty context is kept apart from none');
  const batch = decodeMessageBatch(encodeMessageBatch([m, withBoth]));
  t.deepEqual(batch.map((x) => x.type), ['App', 'Snap']);
});

test('every message type has an encoding', (t) => {
  const types = ['Hup', 'Beat', 'Prop', 'App', 'AppResp', 'Vote', 'VoteResp', 'PreVote', 'PreVoteResp', 'Snap', 'Heartbeat',
    'HeartbeatResp', 'Unreachable', 'SnapStatus', 'CheckQuorum', 'TransferLeader', 'TimeoutNow', 'ReadIndex', 'ReadIndexResp'] as const;
  for (const type of types) {
    const m: Message = { type, from: 'a', to: 'b', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: true, rejectHint: 2 };
    t.is(decodeMessage(encodeMessage(m)).type, type);
  }
});
