// Rules of the Raft paper (Ongaro & Ousterhout, §5), one test each, in the
// spirit of etcd's raft_paper_test.go. Pre-vote and check-quorum are off here
// so that the bare algorithm of the paper is what is checked.

import test from 'ava';
import { MemoryStorage } from './memory-storage.js';
import { TestNetwork, dataOf, drain, newMessage, newTestNode } from './test-network.js';
import type { TestNode } from './test-network.js';
import type { Entry, Message } from './types.js';
import { EntryType, MessageType, StateType } from './types.js';

const paper = { preVote: false, checkQuorum: false };
const ids = ['1', '2', '3'];
const ent = (term: number, index: number, data = ''): Entry => ({ term, index, type: EntryType.Normal, data: new TextEncoder().encode(data) });

function nodeWithLog(id: string, voters: string[], log: Entry[], term: number, opts = {}): TestNode {
  const st = MemoryStorage.fromConfState({ voters, learners: [] });
  st.append(log);
  st.setHardState({ term, vote: '', commit: 0 });
  return newTestNode(id, voters, { ...paper, ...opts }, st);
}

function msgsOf(n: TestNode): Message[] {
  return drain(n);
}

for (const state of [StateType.Follower, StateType.Candidate, StateType.Leader] as const) {
  test(`§5.1: a ${state} that sees a higher term adopts it and becomes a follower`, (t) => {
    const n = newTestNode('1', ids, paper);
    if (state === StateType.Candidate) n.core.campaign();
    if (state === StateType.Leader) {
      n.core.campaign();
      n.core.step(newMessage({ type: MessageType.VoteResp, from: '2', to: '1', term: n.core.term }));
    }
    t.is(n.core.state, state);
    n.core.step(newMessage({ type: MessageType.App, from: '2', to: '1', term: 5 }));
    t.is(n.core.term, 5);
    t.is(n.core.state, StateType.Follower);
    t.is(n.core.lead, '2');
  });
}

test('§5.1: a stale-term message is rejected (answered with the current term)', (t) => {
  const n = newTestNode('1', ids, paper);
  n.core.step(newMessage({ type: MessageType.Heartbeat, from: '2', to: '1', term: 3 }));
  drain(n);
  n.core.step(newMessage({ type: MessageType.App, from: '3', to: '1', term: 2, index: 0, logTerm: 0, entries: [ent(2, 1, 'x')] }));
  const out = msgsOf(n);
  t.is(n.core.raftLog.lastIndex(), 0, 'the stale append was not applied');
  t.is(n.core.term, 3);
  // With pre-vote and check-quorum off, etcd just drops it: nothing is sent.
  t.deepEqual(out.filter((m) => m.to === '3'), []);
});

test('§5.2: a follower starts an election after its election timeout, voting for itself', (t) => {
  const n = newTestNode('1', ids, { ...paper, electionTick: 10 });
  for (let i = 0; i < 20; i++) n.core.tick();
  t.is(n.core.state, StateType.Candidate);
  t.is(n.core.term, 1);
  t.is(n.core.vote, '1');
  const votes = msgsOf(n).filter((m) => m.type === MessageType.Vote);
  t.deepEqual(votes.map((m) => m.to).sort(), ['2', '3']);
  t.true(votes.every((m) => m.term === 1 && m.index === 0 && m.logTerm === 0));
});

test('§5.2: election timeouts are randomized in [electionTick, 2*electionTick)', (t) => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 50; seed++) {
    const n = newTestNode('1', ids, { ...paper, electionTick: 10, random: () => (seed % 10) / 10 });
    let ticks = 0;
    while (n.core.state === StateType.Follower) {
      n.core.tick();
      ticks++;
    }
    t.true(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
    seen.add(ticks);
  }
  t.true(seen.size > 5, 'timeouts differ between nodes');
});

test('§5.2: a candidate that wins votes from a majority becomes leader; a majority of rejections makes it a follower', (t) => {
  const cases: { size: number; grants: number; rejects: number; want: StateType }[] = [
    { size: 1, grants: 0, rejects: 0, want: StateType.Leader },
    { size: 3, grants: 1, rejects: 0, want: StateType.Leader },
    { size: 3, grants: 0, rejects: 0, want: StateType.Candidate },
    { size: 3, grants: 0, rejects: 2, want: StateType.Follower },
    { size: 5, grants: 1, rejects: 0, want: StateType.Candidate },
    { size: 5, grants: 2, rejects: 0, want: StateType.Leader },
    { size: 5, grants: 1, rejects: 3, want: StateType.Follower },
  ];
  for (const c of cases) {
    const voters = Array.from({ length: c.size }, (_, i) => String(i + 1));
    const n = newTestNode('1', voters, paper);
    n.core.campaign();
    let peer = 2;
    for (let i = 0; i < c.grants; i++) n.core.step(newMessage({ type: MessageType.VoteResp, from: String(peer++), to: '1', term: 1 }));
    for (let i = 0; i < c.rejects; i++) n.core.step(newMessage({ type: MessageType.VoteResp, from: String(peer++), to: '1', term: 1, reject: true }));
    t.is(n.core.state, c.want, `size ${c.size} grants ${c.grants} rejects ${c.rejects}`);
  }
});

test('§5.2: each server votes for at most one candidate in a term', (t) => {
  const n = newTestNode('1', ids, paper);
  n.core.step(newMessage({ type: MessageType.Vote, from: '2', to: '1', term: 1 }));
  n.core.step(newMessage({ type: MessageType.Vote, from: '3', to: '1', term: 1 }));
  n.core.step(newMessage({ type: MessageType.Vote, from: '2', to: '1', term: 1 }));
  const resps = msgsOf(n).filter((m) => m.type === MessageType.VoteResp);
  t.deepEqual(
    resps.map((m) => [m.to, m.reject]),
    [['2', false], ['3', true], ['2', false]],
  );
  t.is(n.core.vote, '2');
});

test('§5.2: a candidate that hears from the leader of its term becomes a follower', (t) => {
  const n = newTestNode('1', ids, paper);
  n.core.campaign();
  n.core.step(newMessage({ type: MessageType.App, from: '2', to: '1', term: 1 }));
  t.is(n.core.state, StateType.Follower);
  t.is(n.core.lead, '2');
});

test('§5.2: split votes are resolved by randomized timeouts (an election eventually succeeds)', (t) => {
  const net = new TestNetwork(['1', '2', '3', '4', '5'], paper);
  for (let i = 0; i < 100 && ![...net.nodes.values()].some((n) => n.core.state === StateType.Leader); i++) net.tickAll();
  t.is([...net.nodes.values()].filter((n) => n.core.state === StateType.Leader).length, 1);
});

test('§5.2: a leader sends heartbeats every heartbeat interval', (t) => {
  const n = newTestNode('1', ids, { ...paper, heartbeatTick: 2 });
  n.core.campaign();
  n.core.step(newMessage({ type: MessageType.VoteResp, from: '2', to: '1', term: 1 }));
  drain(n);
  n.core.tick();
  t.deepEqual(msgsOf(n).filter((m) => m.type === MessageType.Heartbeat), []);
  n.core.tick();
  const hb = msgsOf(n).filter((m) => m.type === MessageType.Heartbeat);
  t.deepEqual(hb.map((m) => m.to).sort(), ['2', '3']);
});

test('§5.3: a new leader appends an empty entry of its term and replicates it', (t) => {
  const net = new TestNetwork(ids, paper);
  net.campaign('1');
  for (const id of ids) {
    const n = net.node(id);
    t.is(n.core.raftLog.lastIndex(), 1);
    t.is(n.core.raftLog.term(1), 1);
    t.is(n.applied.length, 1);
    t.is(n.applied[0]!.data.length, 0);
  }
});

test('§5.3: an entry is committed once the leader has replicated it on a majority', (t) => {
  const net = new TestNetwork(['1', '2', '3', '4', '5'], paper);
  net.campaign('1');
  net.isolate('4');
  net.isolate('5');
  net.cutLink('1', '3');
  net.propose('1', 'a');
  t.is(net.core('1').raftLog.committed, 1, 'two of five is not a majority');
  net.recover();
  net.isolate('4');
  net.isolate('5');
  net.tickAll(1);
  net.propose('1', 'b');
  t.is(net.core('1').raftLog.committed, 3, 'three of five commit a and b');
  t.deepEqual(dataOf(net.node('1')), ['a', 'b']);
});

test('§5.3: followers apply entries up to the commit index the leader sends', (t) => {
  const net = new TestNetwork(ids, paper);
  net.campaign('1');
  net.propose('1', 'a');
  net.propose('1', 'b');
  net.tickAll(1); // heartbeat carries the latest commit
  for (const id of ids) t.deepEqual(dataOf(net.node(id)), ['a', 'b'], `node ${id}`);
});

test('§5.3: the AppendEntries consistency check rejects an append whose previous entry does not match', (t) => {
  const n = nodeWithLog('1', ids, [ent(1, 1), ent(2, 2)], 2);
  n.core.step(newMessage({ type: MessageType.App, from: '2', to: '1', term: 2, index: 2, logTerm: 3, entries: [ent(3, 3)] }));
  const [resp] = msgsOf(n).filter((m) => m.type === MessageType.AppResp);
  t.true(resp!.reject);
  t.is(n.core.raftLog.lastIndex(), 2);
  n.core.step(newMessage({ type: MessageType.App, from: '2', to: '1', term: 2, index: 3, logTerm: 2, entries: [ent(2, 4)] }));
  const [resp2] = msgsOf(n).filter((m) => m.type === MessageType.AppResp);
  t.true(resp2!.reject, 'a gap is rejected too');
  t.is(resp2!.rejectHint, 2, 'the hint points at the follower\'s last index');
});

test('§5.3: a follower deletes a conflicting suffix and appends the leader\'s entries', (t) => {
  const n = nodeWithLog('1', ids, [ent(1, 1), ent(2, 2), ent(2, 3)], 2);
  n.core.step(newMessage({ type: MessageType.App, from: '2', to: '1', term: 3, index: 1, logTerm: 1, entries: [ent(3, 2), ent(3, 3), ent(3, 4)] }));
  drain(n);
  t.deepEqual(
    [1, 2, 3, 4].map((i) => n.core.raftLog.term(i)),
    [1, 3, 3, 3],
  );
  t.deepEqual(n.storage.entries(1, 5, Infinity).map((e) => e.term), [1, 3, 3, 3]);
});

test('§5.3 (Figure 7): the leader brings every follower log into agreement with its own', (t) => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6].map((term, i) => ent(term, i + 1));
  const followers: number[][] = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6],
    [1, 1, 1, 4],
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    [1, 1, 1, 4, 4, 4, 4],
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  ];
  for (const f of followers) {
    const net = new TestNetwork([], paper);
    net.nodes.set('1', nodeWithLog('1', ids, leaderLog, 8));
    net.nodes.set('2', nodeWithLog('2', ids, f.map((term, i) => ent(term, i + 1)), 8));
    net.nodes.set('3', nodeWithLog('3', ids, [], 8));
    net.campaign('1');
    t.is(net.core('1').state, StateType.Leader);
    net.tickAll(3);
    const want = net.node('1').storage.entries(1, net.core('1').raftLog.lastIndex() + 1, Infinity).map((e) => e.term);
    const got = net.node('2').storage.entries(1, net.core('2').raftLog.lastIndex() + 1, Infinity).map((e) => e.term);
    t.deepEqual(got, want, `follower ${f.join(',')}`);
  }
});

test('§5.4.1: a voter refuses a candidate whose log is less up to date than its own', (t) => {
  const cases = [
    { index: 2, logTerm: 2, grant: true }, // same
    { index: 3, logTerm: 2, grant: true }, // longer, same last term
    { index: 1, logTerm: 2, grant: false }, // shorter, same last term
    { index: 1, logTerm: 3, grant: true }, // later last term wins over length
    { index: 5, logTerm: 1, grant: false }, // earlier last term loses despite length
  ];
  for (const c of cases) {
    const n = nodeWithLog('1', ids, [ent(1, 1), ent(2, 2)], 2);
    n.core.step(newMessage({ type: MessageType.Vote, from: '2', to: '1', term: 3, index: c.index, logTerm: c.logTerm }));
    const [resp] = msgsOf(n).filter((m) => m.type === MessageType.VoteResp);
    t.is(resp!.reject, !c.grant, JSON.stringify(c));
  }
});

test('§5.4.1: vote requests carry the candidate\'s last log index and term', (t) => {
  const n = nodeWithLog('1', ids, [ent(1, 1), ent(2, 2)], 2);
  n.core.campaign();
  const votes = msgsOf(n).filter((m) => m.type === MessageType.Vote);
  t.true(votes.length === 2 && votes.every((m) => m.index === 2 && m.logTerm === 2 && m.term === 3));
});

test('§5.4.2 (Figure 8): a leader does not commit an entry of an earlier term by counting replicas', (t) => {
  // The new leader (term 3) holds a term-1 entry at 2 on a majority, but must wait for its own entry.
  const net = new TestNetwork([], paper);
  net.nodes.set('1', nodeWithLog('1', ids, [ent(1, 1), ent(1, 2)], 2));
  net.nodes.set('2', nodeWithLog('2', ids, [ent(1, 1), ent(1, 2)], 2));
  net.nodes.set('3', nodeWithLog('3', ids, [ent(1, 1)], 2));
  net.drop(MessageType.App);
  net.campaign('1');
  t.is(net.core('1').state, StateType.Leader);
  // Simulate the follower's acknowledgement of the old entry without letting the no-op through.
  net.core('1').step(newMessage({ type: MessageType.AppResp, from: '2', to: '1', term: 3, index: 2 }));
  t.is(net.core('1').raftLog.committed, 0, 'index 2 (term 1) is on a majority but not committed');
  net.recover();
  net.tickAll(1);
  t.is(net.core('1').raftLog.committed, 3, 'the term-3 no-op commits it indirectly');
});

test('§5.4.2: with the planted bug, a leader does commit an earlier-term entry by counting', (t) => {
  const net = new TestNetwork([], paper);
  const bugs = { testingBugs: { commitPreviousTermByCounting: true } };
  net.nodes.set('1', nodeWithLog('1', ids, [ent(1, 1), ent(1, 2)], 2, bugs));
  net.nodes.set('2', nodeWithLog('2', ids, [ent(1, 1), ent(1, 2)], 2));
  net.nodes.set('3', nodeWithLog('3', ids, [ent(1, 1)], 2));
  net.drop(MessageType.App);
  net.campaign('1');
  net.core('1').step(newMessage({ type: MessageType.AppResp, from: '2', to: '1', term: 3, index: 2 }));
  t.is(net.core('1').raftLog.committed, 2);
});

test('§5.4.3 (leader completeness): a node missing committed entries cannot be elected', (t) => {
  const net = new TestNetwork(ids, paper);
  net.campaign('1');
  net.isolate('3');
  net.propose('1', 'a');
  t.is(net.core('1').raftLog.committed, 2);
  net.recover();
  // 3 lacks "a": its log is behind both others, which refuse it.
  net.isolate('1');
  net.campaign('3');
  t.not(net.core('3').state, StateType.Leader);
  net.campaign('2');
  t.is(net.core('2').state, StateType.Leader);
  t.is(net.core('2').raftLog.term(2), 1);
});

test('§5.5: a follower that receives the same append twice answers the same way (appends are idempotent)', (t) => {
  const n = nodeWithLog('1', ids, [ent(1, 1)], 1);
  const m = newMessage({ type: MessageType.App, from: '2', to: '1', term: 1, index: 1, logTerm: 1, entries: [ent(1, 2, 'x')], commit: 1 });
  n.core.step(m);
  const a = msgsOf(n);
  n.core.step({ ...m });
  const b = msgsOf(n);
  t.deepEqual(a.map((x) => [x.type, x.index, x.reject]), b.map((x) => [x.type, x.index, x.reject]));
  t.is(n.core.raftLog.lastIndex(), 2);
});
