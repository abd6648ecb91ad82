// The extensions beyond the paper's §5: pre-vote, check-quorum, ReadIndex,
// leadership transfer, membership changes, snapshots, flow control,
// forwarding and the errors of the API.

import test from 'ava';
import { decodeConfChange, encodeConfChange } from './conf-change.js';
import { isProposalDropped } from './errors.js';
import { MemoryStorage } from './memory-storage.js';
import { ProgressState } from './progress.js';
import { RaftCore } from './raft-core.js';
import { ReadOnlyOption } from './read-only.js';
import { TestNetwork, dataOf, drain, newMessage, newTestNode, seeded } from './test-network.js';
import { ConfChangeType, EntryType, MessageType, StateType } from './types.js';

const ids = ['1', '2', '3'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const leaders = (net: TestNetwork): string[] => [...net.nodes.entries()].filter(([, n]) => n.core.state === StateType.Leader).map(([id]) => id);

test('pre-vote: a partitioned node does not raise its term, so it cannot disrupt the leader when it rejoins', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  t.is(net.core('1').state, StateType.Leader);
  net.isolate('3');
  for (let i = 0; i < 50; i++) net.act('3', (c) => c.tick());
  t.is(net.core('3').term, 1, 'the pre-vote never succeeded, so the term stayed');
  t.is(net.core('3').state, StateType.PreCandidate);
  net.recover();
  net.tickAll(2);
  t.is(net.core('1').state, StateType.Leader);
  t.is(net.core('1').term, 1);
  t.is(net.core('3').lead, '1');
});

test('without pre-vote a rejoining node with a higher term forces a new election', (t) => {
  const net = new TestNetwork(ids, { preVote: false, checkQuorum: false });
  net.campaign('1');
  net.isolate('3');
  for (let i = 0; i < 50; i++) net.act('3', (c) => c.tick());
  t.true(net.core('3').term > 1);
  net.recover();
  net.tickAll(30);
  t.true(net.core('1').term > 1, 'the old leader was deposed by the higher term');
});

test('pre-vote: a pre-candidate wins only with a majority of pre-votes and then campaigns for real', (t) => {
  const n = newTestNode('1', ids);
  n.core.campaign();
  t.is(n.core.state, StateType.PreCandidate);
  t.is(n.core.term, 0, 'a pre-vote does not bump the term');
  const pv = drain(n).filter((m) => m.type === MessageType.PreVote);
  t.true(pv.length === 2 && pv.every((m) => m.term === 1));
  n.core.step(newMessage({ type: MessageType.PreVoteResp, from: '2', to: '1', term: 1 }));
  t.is(n.core.state, StateType.Candidate);
  t.is(n.core.term, 1);
});

test('check-quorum: a leader that hears from no quorum during an election timeout steps down', (t) => {
  const net = new TestNetwork(ids, { electionTick: 10 });
  net.campaign('1');
  net.isolate('1');
  for (let i = 0; i < 10; i++) net.act('1', (c) => c.tick());
  t.is(net.core('1').state, StateType.Leader, 'one timeout: its peers were active before the cut');
  for (let i = 0; i < 10; i++) net.act('1', (c) => c.tick());
  t.is(net.core('1').state, StateType.Follower);
});

test('check-quorum: a follower that heard from the leader recently ignores a vote request (leader lease)', (t) => {
  const net = new TestNetwork(ids, { preVote: false });
  net.campaign('1');
  net.act('2', (c) => c.step(newMessage({ type: MessageType.Vote, from: '3', to: '2', term: 5, index: 1, logTerm: 1 })));
  t.is(net.core('2').term, 1, 'the vote request was ignored');
  t.is(net.core('2').lead, '1');
});

test('check-quorum: a stale leader learns the new term from the response to its append', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.isolate('1');
  for (let i = 0; i < 30; i++) for (const id of ['2', '3']) net.act(id, (c) => c.tick());
  const [newLeader] = leaders(net).filter((id) => id !== '1');
  t.truthy(newLeader);
  net.recover();
  // The stale leader's heartbeat is answered with the higher term.
  net.act('1', (c) => c.tick());
  t.is(net.core('1').state, StateType.Follower);
  t.is(net.core('1').term, net.core(newLeader!).term);
});

test('read index (safe): a read is released only after a quorum acknowledges a heartbeat round', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.propose('1', 'a');
  net.isolate('2');
  net.isolate('3');
  net.act('1', (c) => c.readIndex(enc('r1')));
  t.deepEqual(net.node('1').readStates, [], 'no quorum: the read waits');
  net.recover();
  net.act('1', (c) => c.readIndex(enc('r2')));
  const got = net.node('1').readStates.map((rs) => [new TextDecoder().decode(rs.requestCtx), rs.index]);
  t.deepEqual(got, [['r1', 2], ['r2', 2]]);
});

test('read index: a follower forwards the read to the leader and gets the leader\'s commit index', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.propose('1', 'a');
  net.act('2', (c) => c.readIndex(enc('f')));
  t.deepEqual(net.node('2').readStates.map((rs) => rs.index), [2]);
});

test('read index: a new leader delays reads until an entry of its term is committed', (t) => {
  const net = new TestNetwork(ids);
  net.drop(MessageType.App);
  net.campaign('1');
  net.act('1', (c) => c.readIndex(enc('x')));
  t.deepEqual(net.node('1').readStates, []);
  net.recover();
  net.tickAll(1);
  t.deepEqual(net.node('1').readStates.map((rs) => rs.index), [1]);
});

test('read index: without a leader the read is refused with ProposalDropped', (t) => {
  const n = newTestNode('1', ids);
  const err = t.throws(() => n.core.readIndex(enc('x')));
  t.true(isProposalDropped(err));
});

test('lease-based reads answer at once, and are refused without check-quorum', (t) => {
  const net = new TestNetwork(ids, { readOnlyOption: ReadOnlyOption.LeaseBased });
  net.campaign('1');
  net.isolate('2');
  net.isolate('3');
  net.act('1', (c) => c.readIndex(enc('x')));
  t.deepEqual(net.node('1').readStates.map((rs) => rs.index), [1]);
  t.throws(() => new RaftCore({ id: '1', storage: new MemoryStorage(), random: seeded(1), checkQuorum: false, readOnlyOption: ReadOnlyOption.LeaseBased }));
});

test('transfer: the leader catches the transferee up, sends TimeoutNow, and the transferee wins', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.isolate('3');
  net.propose('1', 'a');
  net.recover();
  net.act('1', (c) => c.transferLeadership('3'));
  t.is(net.core('3').state, StateType.Leader);
  t.is(net.core('1').state, StateType.Follower);
  t.deepEqual(dataOf(net.node('3')), ['a']);
});

test('transfer: proposals are dropped while a transfer is in flight, and it is abandoned after an election timeout', (t) => {
  const net = new TestNetwork(ids, { electionTick: 10 });
  net.campaign('1');
  net.isolate('3');
  net.act('1', (c) => c.transferLeadership('3'));
  const err = t.throws(() => net.core('1').propose(enc('x')));
  t.true(isProposalDropped(err));
  net.recover();
  net.isolate('3');
  for (let i = 0; i < 10; i++) net.act('1', (c) => c.tick());
  t.is(net.core('1').status().leadTransferee, '');
  t.notThrows(() => net.core('1').propose(enc('y')));
});

test('transfer: a follower forwards the request to the leader', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.act('2', (c) => c.transferLeadership('2'));
  t.is(net.core('2').state, StateType.Leader);
});

test('forwarding: a follower forwards proposals to the leader, unless forwarding is disabled', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.propose('2', 'via-2');
  t.deepEqual(dataOf(net.node('1')), ['via-2']);
  const net2 = new TestNetwork(ids, { disableProposalForwarding: true });
  net2.campaign('1');
  t.true(isProposalDropped(t.throws(() => net2.core('2').propose(enc('x')))));
});

test('a proposal without a known leader is refused with ProposalDropped', (t) => {
  const n = newTestNode('1', ids);
  t.true(isProposalDropped(t.throws(() => n.core.propose(enc('x')))));
});

test('the leader refuses proposals beyond maxUncommittedEntriesSize', (t) => {
  const net = new TestNetwork(ids, { maxUncommittedEntriesSize: 10 });
  net.campaign('1');
  net.isolate('1');
  net.propose('1', '12345678');
  t.true(isProposalDropped(t.throws(() => net.core('1').propose(enc('12345678')))));
});

test('membership: a learner receives the log but does not vote, and AddNode promotes it', (t) => {
  const net = new TestNetwork(ids, {}, true);
  net.campaign('1');
  net.add('4');
  net.act('1', (c) => c.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: '4', context: new Uint8Array() }));
  net.tickAll(3);
  net.propose('1', 'a');
  t.deepEqual(dataOf(net.node('4')), ['a'], 'the learner got the log');
  t.deepEqual(net.core('1').status().config, { voters: ['1', '2', '3'], learners: ['4'] });
  // A learner never campaigns.
  for (let i = 0; i < 50; i++) net.act('4', (c) => c.tick());
  t.is(net.core('4').state, StateType.Follower);
  net.act('1', (c) => c.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: '4', context: new Uint8Array() }));
  net.tickAll(1);
  t.deepEqual(net.core('1').status().config, { voters: ['1', '2', '3', '4'], learners: [] });
  t.deepEqual(net.core('4').status().config, { voters: ['1', '2', '3', '4'], learners: [] });
});

test('membership: only one change may be pending at a time', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.isolate('1');
  net.act('1', (c) => c.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: '4', context: new Uint8Array() }));
  t.true(isProposalDropped(t.throws(() => net.core('1').proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: '5', context: new Uint8Array() }))));
});

test('membership: removing a voter shrinks the quorum; a removed leader steps down', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.act('1', (c) => c.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: '3', context: new Uint8Array() }));
  net.tickAll(1);
  t.deepEqual(net.core('1').status().config.voters, ['1', '2']);
  net.isolate('3');
  net.propose('1', 'a');
  t.deepEqual(dataOf(net.node('2')).slice(-1), ['a']);
  net.act('1', (c) => c.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: '1', context: new Uint8Array() }));
  t.not(net.core('1').state, StateType.Leader);
});

test('a ConfChange round-trips through its byte encoding', (t) => {
  const cc = { type: ConfChangeType.AddLearner, nodeId: 'node-ä', context: enc('10.0.0.1:2377') };
  t.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  t.throws(() => decodeConfChange(new Uint8Array([9])));
});

test('snapshot: a follower whose next entry was compacted away is sent a snapshot and catches up', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.isolate('3');
  for (let i = 0; i < 5; i++) net.propose('1', `e${i}`);
  const leader = net.node('1');
  const applied = leader.core.status().applied;
  leader.storage.createSnapshot(applied, leader.core.status().config, enc('state@' + applied));
  leader.storage.compact(applied);
  net.recover();
  net.tickAll(3);
  const follower = net.node('3');
  t.is(follower.storage.snapshot().metadata.index, applied);
  t.is(new TextDecoder().decode(follower.storage.snapshot().data), 'state@' + applied);
  net.propose('1', 'after');
  t.deepEqual(dataOf(follower), ['after']);
  t.is(follower.core.raftLog.committed, leader.core.raftLog.committed);
});

test('snapshot: a failed snapshot is reported and retried', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.isolate('3');
  for (let i = 0; i < 3; i++) net.propose('1', `e${i}`);
  const leader = net.node('1');
  const applied = leader.core.status().applied;
  leader.storage.createSnapshot(applied, leader.core.status().config, enc('s'));
  leader.storage.compact(applied);
  net.recover();
  net.drop(MessageType.Snap);
  net.tickAll(2);
  t.is(leader.core.status().progress!.get('3')!.state, ProgressState.Snapshot);
  net.act('1', (c) => c.reportSnapshot('3', false));
  t.is(leader.core.status().progress!.get('3')!.state, ProgressState.Probe);
  net.recover();
  net.tickAll(3);
  t.is(net.node('3').storage.snapshot().metadata.index, applied);
});

test('flow control: in Replicate state at most maxInflightMsgs appends are outstanding', (t) => {
  const net = new TestNetwork(ids, { maxInflightMsgs: 2 });
  net.campaign('1');
  net.drop(MessageType.AppResp);
  const leader = net.node('1');
  for (let i = 0; i < 5; i++) leader.core.propose(enc(`x${i}`));
  const apps = drain(leader).filter((m) => m.type === MessageType.App && m.to === '2');
  t.is(apps.length, 2);
  t.is(leader.core.status().progress!.get('2')!.inflight, 2);
});

test('flow control: a probing follower gets one append per heartbeat until it answers', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  const leader = net.node('1');
  leader.core.reportUnreachable('2');
  t.is(leader.core.status().progress!.get('2')!.state, ProgressState.Probe);
  for (let i = 0; i < 3; i++) leader.core.propose(enc(`x${i}`));
  const apps = drain(leader).filter((m) => m.type === MessageType.App && m.to === '2');
  t.is(apps.length, 1);
});

test('fast backtracking: the leader skips a whole conflicting term per rejection', (t) => {
  const st = MemoryStorage.fromConfState({ voters: ids, learners: [] });
  const e = (term: number, index: number) => ({ term, index, type: EntryType.Normal, data: new Uint8Array() });
  st.append([e(1, 1), ...Array.from({ length: 20 }, (_, i) => e(2, i + 2))]);
  st.setHardState({ term: 2, vote: '', commit: 1 });
  const follower = newTestNode('2', ids, {}, st);
  follower.core.step(newMessage({ type: MessageType.App, from: '1', to: '2', term: 3, index: 30, logTerm: 3 }));
  const [rej] = drain(follower).filter((m) => m.type === MessageType.AppResp);
  t.true(rej!.reject);
  t.is(rej!.rejectHint, 21);
  t.is(rej!.logTerm, 2);
});

test('step() refuses local message types', (t) => {
  const n = newTestNode('1', ids);
  t.throws(() => n.core.step(newMessage({ type: MessageType.Hup })));
});

test('a restarted node recovers term, vote and commit from storage', (t) => {
  const net = new TestNetwork(ids);
  net.campaign('1');
  net.propose('1', 'a');
  const st = net.node('2').storage;
  const again = new RaftCore({ id: '2', storage: st, random: seeded(3) });
  t.is(again.term, 1);
  t.is(again.vote, '1');
  t.is(again.raftLog.lastIndex(), 2);
  t.true(again.raftLog.committed >= 1);
  t.is(again.state, StateType.Follower);
});
