// The leader may replicate while its own fsync runs (thesis §10.2.1), but only
// because its own entries count toward the commit once they are persisted.

import test from 'ava';
import { MemoryStorage } from './memory-storage.js';
import { RaftCore } from './raft-core.js';
import { splitReadyMessages } from './ready-messages.js';
import { TestNetwork, newMessage } from './test-network.js';
import { MessageType, StateType } from './types.js';
import type { Ready } from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test("the leader's unpersisted entries do not count toward the commit quorum", (t) => {
  const net = new TestNetwork(['1', '2', '3']);
  net.campaign('1');
  const leader = net.core('1');
  t.is(leader.state, StateType.Leader);
  const before = leader.raftLog.committed;
  leader.propose(enc('x'));
  const rd = leader.ready();
  const index = rd.entries[rd.entries.length - 1]!.index;
  // One follower acknowledges while the leader's own write is still in flight: 1 durable copy of 3.
  leader.step(newMessage({ type: MessageType.AppResp, from: '2', to: '1', term: leader.term, index }));
  t.is(leader.raftLog.committed, before, 'committed on a single durable copy');
  // The leader's write completes: 2 of 3.
  net.node('1').storage.append(rd.entries);
  leader.advance(rd);
  t.is(leader.raftLog.committed, index);
  t.true(leader.hasReady(), 'the new commit index goes out in the next Ready');
});

test('a single voter commits its entries once they are persisted', (t) => {
  const net = new TestNetwork(['1']);
  net.campaign('1');
  net.propose('1', 'a');
  t.deepEqual(net.node('1').applied.filter((e) => e.data.length > 0).map((e) => new TextDecoder().decode(e.data)), ['a']);
});

const ready = (over: Partial<Ready>): Ready => ({ readStates: [], entries: [], committedEntries: [], messages: [], mustSync: false, ...over });

test("only the leader's appends and heartbeats may go before the fsync, and only when term and vote are already durable", (t) => {
  const app = newMessage({ type: MessageType.App, from: '1', to: '2', term: 3 });
  const hb = newMessage({ type: MessageType.Heartbeat, from: '1', to: '3', term: 3 });
  const resp = newMessage({ type: MessageType.AppResp, from: '1', to: '2', term: 3 });
  const vote = newMessage({ type: MessageType.VoteResp, from: '1', to: '2', term: 3 });
  const persisted = { term: 3, vote: '1' };
  const same = splitReadyMessages(ready({ messages: [app, resp, hb, vote], hardState: { term: 3, vote: '1', commit: 9 } }), persisted);
  t.deepEqual(same.beforePersist, [app, hb]);
  t.deepEqual(same.afterPersist, [resp, vote]);
  const newTerm = splitReadyMessages(ready({ messages: [app, hb], hardState: { term: 4, vote: '1', commit: 9 } }), persisted);
  t.deepEqual(newTerm.beforePersist, []);
  t.deepEqual(newTerm.afterPersist, [app, hb]);
  const newVote = splitReadyMessages(ready({ messages: [app], hardState: { term: 3, vote: '2', commit: 0 } }), { term: 3, vote: '' });
  t.deepEqual(newVote.beforePersist, []);
  const snap = splitReadyMessages(
    ready({ messages: [app], snapshot: { metadata: { index: 5, term: 2, confState: { voters: ['1'], learners: [] } }, data: new Uint8Array() } }),
    persisted,
  );
  t.deepEqual(snap.beforePersist, []);
});

test('a pipelined Ready holds its appends while a term change in a Ready ahead of it is not durable', (t) => {
  const app = newMessage({ type: MessageType.App, from: '1', to: '2', term: 4 });
  // The Ready in flight made us leader of term 4; the next one has no hard state of its own.
  const held = splitReadyMessages(ready({ messages: [app] }), { term: 3, vote: '2' }, { term: 4, vote: '1' });
  t.deepEqual(held.beforePersist, []);
  t.deepEqual(held.afterPersist, [app]);
  const durable = splitReadyMessages(ready({ messages: [app] }), { term: 4, vote: '1' }, { term: 4, vote: '1' });
  t.deepEqual(durable.beforePersist, [app]);
});

test('with asyncStorageWrites a second Ready carries only what the first did not, and Readies advance in order', (t) => {
  const storage = MemoryStorage.bootstrap({ voters: ['1'], learners: [] });
  const core = new RaftCore({ id: '1', storage, random: () => 0, asyncStorageWrites: true });
  core.campaign();
  const r0 = core.ready();
  storage.setHardState(r0.hardState!);
  storage.append(r0.entries);
  core.advance(r0);
  // Drain the empty entry of the new term.
  while (core.hasReady()) {
    const r = core.ready();
    if (r.hardState) storage.setHardState(r.hardState);
    storage.append(r.entries);
    core.advance(r);
  }
  core.propose(enc('a'));
  const r1 = core.ready();
  t.deepEqual(r1.entries.map((e) => new TextDecoder().decode(e.data)), ['a']);
  core.propose(enc('b'));
  t.true(core.hasReady(), 'the next Ready may be taken while the first is in flight');
  const r2 = core.ready();
  t.deepEqual(r2.entries.map((e) => new TextDecoder().decode(e.data)), ['b']);
  t.deepEqual(r2.committedEntries, [], 'nothing commits before the single voter persisted it');
  t.throws(() => core.advance(r2), { message: /oldest outstanding/ });
  storage.append(r1.entries);
  core.advance(r1);
  const r3 = core.ready();
  t.deepEqual(r3.committedEntries.map((e) => new TextDecoder().decode(e.data)), ['a'], 'a commits once persisted; b is not durable yet');
  storage.append(r2.entries);
  core.advance(r2);
  core.advance(r3);
  const r4 = core.ready();
  t.deepEqual(r4.committedEntries.map((e) => new TextDecoder().decode(e.data)), ['b'], 'each committed entry is handed out once');
  core.advance(r4);
});

test('without asyncStorageWrites a second Ready before advance is refused', (t) => {
  const core = new RaftCore({ id: '1', storage: MemoryStorage.bootstrap({ voters: ['1'], learners: [] }), random: () => 0 });
  core.campaign();
  core.ready();
  t.false(core.hasReady());
  t.throws(() => core.ready(), { message: /before advance/ });
});
