import test from 'ava';
import { ErrorCode, ShoalError, errorCode } from '@shoal/api';
import { RaftNodeError, RaftNodeErrorCode } from '@shoal/raft';
import { NotLeaderError, fromRaftError } from './errors.js';

const reach = (reachable: number, voters = 3) => () => ({ reachable, voters });

test('a NotLeader refusal naming a leader becomes a NotLeaderError that says where to send changes', (t) => {
  const raft = new RaftNodeError(RaftNodeErrorCode.NotLeader, 'This member is not the leader: retry on the leader m2 (10.0.0.2:4242).', {
    leaderId: 'm2',
    leaderAddr: '10.0.0.2:4242',
  });
  const err = fromRaftError(raft, reach(3)) as NotLeaderError;
  t.true(err instanceof NotLeaderError);
  t.is(errorCode(err), ErrorCode.NotLeader);
  t.is(err.leaderId, 'm2');
  t.is(err.leaderAddr, '10.0.0.2:4242');
  t.false(err.indeterminate);
  t.is(err.message, 'This manager is not the leader; send changes to the leader m2 (10.0.0.2:4242).');
  t.is(err.cause, raft);
});

test('a change lost with the leadership is reported as one that may still take effect', (t) => {
  const raft = new RaftNodeError(RaftNodeErrorCode.NotLeader, 'Leadership was lost', { leaderId: 'm3', indeterminate: true });
  const err = fromRaftError(raft, reach(3)) as NotLeaderError;
  t.true(err.indeterminate);
  t.regex(err.message, /may still take effect; send changes to the leader m3\.$/);
});

test('NotLeader with no leader known becomes Unavailable saying how many managers are reachable', (t) => {
  const raft = new RaftNodeError(RaftNodeErrorCode.NotLeader, 'no leader', {});
  const lonely = fromRaftError(raft, reach(1)) as ShoalError;
  t.is(errorCode(lonely), ErrorCode.Unavailable);
  t.is(
    lonely.message,
    'No quorum: 1 of 3 managers reachable; 2 are needed to make changes, so restart the missing managers or reconnect them, then retry.',
  );
  const electing = fromRaftError(raft, reach(2)) as ShoalError;
  t.is(errorCode(electing), ErrorCode.Unavailable);
  t.is(electing.message, 'No leader is elected yet (2 of 3 managers reachable); retry in a moment.');
  const five = fromRaftError(new RaftNodeError(RaftNodeErrorCode.NotLeader, 'x', { indeterminate: true }), reach(2, 5)) as ShoalError;
  t.regex(five.message, /^No quorum: 2 of 5 managers reachable; 3 are needed .* may still be applied if this manager rejoins the majority\.$/);
});

test('other Raft refusals keep their code and message as ShoalErrors; aborts and foreign errors pass through', (t) => {
  for (const code of [RaftNodeErrorCode.Unavailable, RaftNodeErrorCode.Internal, RaftNodeErrorCode.FailedPrecondition]) {
    const err = fromRaftError(new RaftNodeError(code, `because ${code}.`), reach(3));
    t.true(err instanceof ShoalError);
    t.is(errorCode(err), code);
    t.is((err as Error).message, `because ${code}.`);
  }
  const abort = new DOMException('The operation was aborted.', 'AbortError');
  t.is(fromRaftError(abort, reach(3)), abort);
  const plain = new Error('disk on fire');
  t.is(fromRaftError(plain, reach(3)), plain);
  const shoal = new ShoalError(ErrorCode.Conflict, 'stale');
  t.is(fromRaftError(shoal, reach(3)), shoal);
});
