// The Raft state machine (etcd-io/raft's raft + RawNode, rewritten). Pure:
// ticks, messages and proposals go in; a Ready batch comes out. The host loop
// persists Ready.hardState/entries/snapshot (fsync when mustSync), then sends
// Ready.messages, applies Ready.committedEntries (calling applyConfChange for
// ConfChange entries), then calls advance(ready).
//
// Errors: methods that a caller drives locally (propose, proposeConfChange,
// readIndex) throw a RaftError with code ProposalDropped when the request
// cannot be taken now; the caller retries or reports NotLeader. Messages
// from the network never throw for ordinary reasons (a forwarded proposal
// the leader cannot take is dropped, as a lost message would be).

import { encodeConfChange } from './conf-change.js';
import { RaftError, RaftErrorCode, isCompacted, isProposalDropped, isRaftError, isUnavailable, proposalDropped } from './errors.js';
import { entrySize } from './memory-storage.js';
import { Progress, ProgressState, ProgressTracker } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly, ReadOnlyOption } from './read-only.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, ReadState, Snapshot, SoftState, Storage } from './types.js';
import { ConfChangeType, EntryType, MessageType, StateType } from './types.js';

/** Planted bugs, for proving that the simulator catches them. Never set outside tests. */
export interface RaftTestingBugs {
  /** Grant votes without the §5.4.1 "candidate's log is at least as up to date" check. */
  voteWithoutLogCheck?: boolean;
  /** Commit entries of earlier terms by counting replicas (the Figure 8 bug, §5.4.2). */
  commitPreviousTermByCounting?: boolean;
  /**
   * The leader counts its own entries toward the commit quorum as soon as it appends them, not when
   * the host reports them persisted (advance). Harmless only while every message waits for the
   * leader's fsync.
   */
  leaderCountsUnpersistedEntries?: boolean;
}

export interface RaftCoreOptions {
  id: NodeId;
  storage: Storage;
  /** Ticks without hearing from a leader before campaigning; the real timeout is random in [electionTick, 2*electionTick). Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTick?: number;
  /** Uniform in [0, 1); injected so the core stays deterministic. */
  random: () => number;
  /** Ask for votes with a pre-vote round first, so a partitioned node cannot disrupt a leader on rejoining. Default true. */
  preVote?: boolean;
  /** The leader steps down when a quorum was not active during an election timeout; followers ignore votes while they have a leader. Default true. */
  checkQuorum?: boolean;
  /** Max bytes of entry data in one append message. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Max appends in flight per follower in Replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max bytes of entry data in flight per follower (0 = no limit). Default 0. */
  maxInflightBytes?: number;
  /** Max bytes of uncommitted entry data the leader accepts (0 = no limit). Default 0. */
  maxUncommittedEntriesSize?: number;
  /** Max bytes of committed entries handed out in one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** The last index the application has applied (on restart). Default: the storage's snapshot index. */
  applied?: number;
  /** How ReadIndex confirms leadership. Default Safe. LeaseBased requires checkQuorum. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /**
   * Let the host take the next Ready before advancing the previous ones (etcd's async storage
   * writes): Readies are then persisted, and advanced, in the order taken; each carries only
   * entries and committed entries the earlier ones did not. A Ready carrying a snapshot is handed
   * out only when none is outstanding, and none follows it until it is advanced. Default false:
   * ready() before advance() throws.
   */
  asyncStorageWrites?: boolean;
  testingBugs?: RaftTestingBugs;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  isLearner: boolean;
  recentActive: boolean;
  inflight: number;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  state: StateType;
  leadTransferee: NodeId;
  lastIndex: number;
  config: ConfState;
  /** Only on the leader. */
  progress: Map<NodeId, ProgressStatus> | undefined;
}

const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');
const isTransferCtx = (ctx: Uint8Array | undefined): boolean =>
  ctx !== undefined && ctx.length === CAMPAIGN_TRANSFER.length && ctx.every((b, i) => b === CAMPAIGN_TRANSFER[i]);

const LOCAL_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);
const RESPONSE_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.AppResp,
  MessageType.VoteResp,
  MessageType.PreVoteResp,
  MessageType.HeartbeatResp,
  MessageType.Unreachable,
  MessageType.SnapStatus,
]);

/** A message with every field zeroed except those given. */
export function newMessage(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return { from: '', to: '', term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m };
}

type CampaignType = 'PreElection' | 'Election' | 'Transfer';

export class RaftCore {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = '';
  lead: NodeId = '';
  state: StateType = StateType.Follower;
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  private readonly maxCommittedSizePerReady: number;
  private readonly readOnlyOption: ReadOnlyOption;
  private readonly disableProposalForwarding: boolean;
  private readonly bugs: RaftTestingBugs;

  private leadTransferee: NodeId = '';
  /** Index of the last conf change proposed by this leader; a new one waits until it is applied. */
  private pendingConfIndex = 0;
  private uncommittedSize = 0;
  private readonly readOnly = new ReadOnly();
  private pendingReadIndexMessages: Message[] = [];
  private readStates: ReadState[] = [];
  private msgs: Message[] = [];

  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** Readies handed out and not yet advanced, oldest first (at most one unless asyncStorageWrites). */
  private outstanding: Ready[] = [];
  private readonly asyncStorageWrites: boolean;

  /** @throws RaftError InvalidConfig for a bad option or inconsistent storage. */
  constructor(opts: RaftCoreOptions) {
    if (opts.id === '') throw new RaftError(RaftErrorCode.InvalidConfig, 'The node ID must not be empty.');
    this.id = opts.id;
    this.electionTimeout = opts.electionTick ?? 10;
    this.heartbeatTimeout = opts.heartbeatTick ?? 1;
    if (this.heartbeatTimeout <= 0 || this.electionTimeout <= this.heartbeatTimeout) {
      throw new RaftError(RaftErrorCode.InvalidConfig, 'electionTick must be greater than heartbeatTick, and heartbeatTick positive.');
    }
    this.random = opts.random;
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;
    this.maxMsgSize = opts.maxSizePerMsg ?? 1024 * 1024;
    this.maxUncommittedSize = opts.maxUncommittedEntriesSize ?? 0;
    this.maxCommittedSizePerReady = opts.maxCommittedSizePerReady ?? Number.MAX_SAFE_INTEGER;
    this.readOnlyOption = opts.readOnlyOption ?? ReadOnlyOption.Safe;
    if (this.readOnlyOption === ReadOnlyOption.LeaseBased && !this.checkQuorum) {
      throw new RaftError(RaftErrorCode.InvalidConfig, 'Lease-based reads need checkQuorum; enable checkQuorum or use ReadOnlyOption.Safe.');
    }
    this.disableProposalForwarding = opts.disableProposalForwarding ?? false;
    this.bugs = opts.testingBugs ?? {};
    this.asyncStorageWrites = opts.asyncStorageWrites ?? false;
    const maxInflight = opts.maxInflightMsgs ?? 256;
    if (maxInflight <= 0) throw new RaftError(RaftErrorCode.InvalidConfig, 'maxInflightMsgs must be positive.');

    this.raftLog = new RaftLog(opts.storage);
    this.trk = new ProgressTracker(maxInflight, opts.maxInflightBytes ?? 0);
    const { hardState, confState } = opts.storage.initialState();
    this.loadConfState(confState);
    if (hardState.term !== 0 || hardState.vote !== '' || hardState.commit !== 0) {
      // A snapshot is committed by definition, even if the commit index in the hard state was not synced after it.
      const commit = Math.max(hardState.commit, this.raftLog.committed);
      if (commit > this.raftLog.lastIndex()) {
        throw new RaftError(RaftErrorCode.InvalidConfig, `The stored commit index ${commit} is past the last log index ${this.raftLog.lastIndex()}; the log is truncated or corrupt.`);
      }
      this.raftLog.committed = commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (opts.applied !== undefined && opts.applied > 0) this.raftLog.appliedTo(opts.applied);
    this.becomeFollower(this.term, '');
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
  }

  // ---- public API (RawNode) ----

  /** Advance the logical clock by one tick (election timeout, heartbeat, check-quorum). */
  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** Start an election now (skipping the timeout). Ignored if this node cannot vote. */
  campaign(): void {
    this.stepInternal(newMessage({ type: MessageType.Hup }));
  }

  /**
   * Propose data for the log. On a follower the proposal is forwarded to the leader.
   * @throws RaftError ProposalDropped when there is no leader, a leadership transfer is in flight,
   * forwarding is disabled, or the uncommitted log is full.
   */
  propose(data: Uint8Array): void {
    this.stepInternal(
      newMessage({ type: MessageType.Prop, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    );
  }

  /**
   * Propose a membership change (one server at a time). Apply it with applyConfChange() once its entry is committed.
   * @throws RaftError ProposalDropped as propose(), and on the leader when another change is still pending.
   */
  proposeConfChange(cc: ConfChange): void {
    if (this.state === StateType.Leader && this.pendingConfIndex > this.raftLog.applied) {
      throw proposalDropped('another membership change is still being applied');
    }
    if (this.state === StateType.Leader && !this.committedEntryInCurrentTerm()) {
      throw proposalDropped('the new leader has not committed an entry of its term yet');
    }
    this.stepInternal(
      newMessage({
        type: MessageType.Prop,
        from: this.id,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }],
      }),
    );
  }

  /**
   * Feed a message from the network. Stale or unknown-peer messages are ignored.
   * @throws RaftError StepLocalMsg for local-only types (Hup, Beat, ...): use the dedicated methods.
   */
  step(m: Message): void {
    if (LOCAL_TYPES.has(m.type)) {
      throw new RaftError(RaftErrorCode.StepLocalMsg, `Message type ${m.type} is local; call the RaftCore method instead of step().`);
    }
    if (RESPONSE_TYPES.has(m.type) && !this.trk.progress.has(m.from)) return;
    try {
      this.stepInternal(m);
    } catch (err) {
      if (isProposalDropped(err)) return;
      throw err;
    }
  }

  /**
   * Request a linearizable read. When safe, a ReadState with this ctx and the read index
   * appears in a Ready; serve the read once applied ≥ that index. ctx must be unique per request.
   * @throws RaftError ProposalDropped when no leader is known.
   */
  readIndex(ctx: Uint8Array): void {
    this.stepInternal(newMessage({ type: MessageType.ReadIndex, context: ctx }));
  }

  /** Ask the leader to hand leadership to `to` (it catches `to` up, then sends TimeoutNow). */
  transferLeadership(to: NodeId): void {
    try {
      this.stepInternal(newMessage({ type: MessageType.TransferLeader, from: to }));
    } catch (err) {
      if (!isProposalDropped(err)) throw err;
    }
  }

  /** The transport could not reach `id`: the leader falls back to probing it. */
  reportUnreachable(id: NodeId): void {
    this.stepInternal(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  /** The snapshot sent to `id` was delivered (ok) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.stepInternal(newMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  /**
   * Apply a committed membership change (call it when applying a ConfChange entry) and return the new configuration.
   * AddNode of a learner promotes it; AddLearner of a voter is ignored; a removed leader steps down.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const before = this.trk.voters().join(',');
    switch (cc.type) {
      case ConfChangeType.AddNode: {
        const pr = this.trk.progress.get(cc.nodeId);
        if (pr) pr.isLearner = false;
        else this.addProgress(cc.nodeId, false);
        break;
      }
      case ConfChangeType.AddLearner:
        if (!this.trk.progress.has(cc.nodeId)) this.addProgress(cc.nodeId, true);
        break;
      case ConfChangeType.RemoveNode:
        this.trk.progress.delete(cc.nodeId);
        this.trk.votes.delete(cc.nodeId);
        break;
    }
    // A change was applied: a new one may be proposed.
    this.pendingConfIndex = 0;
    if (this.state === StateType.Leader) {
      if (!this.trk.isVoter(this.id)) {
        this.becomeFollower(this.term, '');
      } else {
        if (this.leadTransferee !== '' && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
        if (before !== this.trk.voters().join(',') && this.maybeCommit()) this.bcastAppend();
        else for (const id of this.trk.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    return this.trk.confState();
  }

  /**
   * True when ready() has something and may be called: no Ready is outstanding, or (with
   * asyncStorageWrites) none of the outstanding ones carries a snapshot and the next one would
   * not carry one either.
   */
  hasReady(): boolean {
    if (this.outstanding.length > 0) {
      if (!this.asyncStorageWrites || this.outstanding.some((r) => r.snapshot) || this.raftLog.unstableSnapshot) return false;
    }
    const ss = this.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) return true;
    if (!hardStateEqual(this.hardState(), this.prevHardState)) return true;
    if (this.raftLog.unstableSnapshot) return true;
    if (this.msgs.length > 0 || this.raftLog.entriesToPersist().length > 0 || this.readStates.length > 0) return true;
    return this.raftLog.hasNextCommittedEnts();
  }

  /** Readies handed out and not yet advanced. */
  outstandingReadies(): number {
    return this.outstanding.length;
  }

  /**
   * Take the next batch of work. The host must finish it (persist, send, apply) and call
   * advance(ready); step/tick/propose may be called in between. With asyncStorageWrites it may
   * take further Readies first (see hasReady), and must persist and advance them in order.
   * @throws RaftError InvalidConfig if a Ready may not be taken now (hasReady() is false for that reason).
   */
  ready(): Ready {
    if (this.outstanding.length > 0 && (!this.asyncStorageWrites || this.outstanding.some((r) => r.snapshot) || this.raftLog.unstableSnapshot)) {
      throw new RaftError(RaftErrorCode.InvalidConfig, 'ready() was called again before advance(); finish the previous Ready first.');
    }
    const ss = this.softState();
    const hs = this.hardState();
    const entries = this.raftLog.entriesToPersist();
    const snapshot = this.raftLog.unstableSnapshot;
    const rd: Ready = {
      readStates: this.readStates,
      entries,
      committedEntries: this.raftLog.nextCommittedEnts(this.maxCommittedSizePerReady),
      messages: this.msgs,
      mustSync: entries.length > 0 || snapshot !== undefined || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    if (snapshot) rd.snapshot = snapshot;
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    if (!hardStateEqual(hs, this.prevHardState)) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    this.raftLog.acceptInProgress();
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) this.raftLog.applying = lastCommitted.index;
    this.msgs = [];
    this.readStates = [];
    this.outstanding.push(rd);
    return rd;
  }

  /** The host finished `rd` (the oldest outstanding Ready): its entries are in Storage and its committed entries are applied. */
  advance(rd: Ready): void {
    if (this.outstanding[0] !== rd) {
      throw new RaftError(RaftErrorCode.InvalidConfig, 'advance() was given a Ready that is not the oldest outstanding one.');
    }
    this.outstanding.shift();
    if (rd.snapshot) {
      this.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > this.raftLog.applied) this.raftLog.applied = rd.snapshot.metadata.index;
    }
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (lastEnt) {
      this.raftLog.stableTo(lastEnt.index, lastEnt.term);
      // The leader's own entries count toward the commit quorum only once they are durable, so the
      // host may send appends to followers while its own fsync runs (thesis §10.2.1).
      if (this.state === StateType.Leader && this.raftLog.matchTerm(lastEnt.index, lastEnt.term)) {
        const self = this.trk.progress.get(this.id);
        if (self?.maybeUpdate(lastEnt.index) && this.maybeCommit()) {
          this.releasePendingReadIndexMessages();
          this.bcastAppend();
        }
      }
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) {
      this.raftLog.appliedTo(lastCommitted.index);
      if (this.state === StateType.Leader) {
        let size = 0;
        for (const e of rd.committedEntries) size += entrySize(e);
        this.uncommittedSize = Math.max(0, this.uncommittedSize - size);
      }
    }
  }

  status(): RaftStatus {
    let progress: Map<NodeId, ProgressStatus> | undefined;
    if (this.state === StateType.Leader) {
      progress = new Map();
      for (const [id, pr] of this.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count(),
        });
      }
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.raftLog.committed,
      applied: this.raftLog.applied,
      lead: this.lead,
      state: this.state,
      leadTransferee: this.leadTransferee,
      lastIndex: this.raftLog.lastIndex(),
      config: this.trk.confState(),
      progress,
    };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // ---- state transitions ----

  private loadConfState(cs: ConfState): void {
    this.trk.progress.clear();
    const next = this.raftLog.lastIndex() + 1;
    for (const id of cs.voters) this.trk.progress.set(id, new Progress(next, false, this.trk.maxInflight, this.trk.maxInflightBytes));
    for (const id of cs.learners) this.trk.progress.set(id, new Progress(next, true, this.trk.maxInflight, this.trk.maxInflightBytes));
  }

  private addProgress(id: NodeId, isLearner: boolean): void {
    const pr = new Progress(this.raftLog.lastIndex() + 1, isLearner, this.trk.maxInflight, this.trk.maxInflightBytes);
    // A new member counts as active so check-quorum does not depose the leader before it is heard from.
    pr.recentActive = true;
    this.trk.progress.set(id, pr);
  }

  private promotable(): boolean {
    return this.trk.isVoter(this.id) && this.raftLog.unstableSnapshot === undefined;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, old] of this.trk.progress) {
      const pr = new Progress(last + 1, old.isLearner, this.trk.maxInflight, this.trk.maxInflightBytes);
      // Our own match is what is durable: entries still unstable count once advance() reports them persisted.
      if (id === this.id) pr.match = this.bugs.leaderCountsUnpersistedEntries === true ? last : this.raftLog.unstableOffset - 1;
      this.trk.progress.set(id, pr);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  private becomePreCandidate(): void {
    // No term bump and no vote: a pre-vote changes nothing durable.
    this.trk.resetVotes();
    this.lead = '';
    this.state = StateType.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conf changes in the uncommitted tail may be pending: be conservative.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The no-op entry lets entries of earlier terms commit (§5.4.2, §8).
    this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.stepInternal(newMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.stepInternal(newMessage({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== '') this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.stepInternal(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    const ents = this.raftLog.slice(lo, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    // A committed but unapplied membership change could make us campaign in the wrong configuration.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign0(t);
  }

  private campaign0(t: CampaignType): void {
    let term: number;
    let voteType: MessageType;
    if (t === 'PreElection') {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      // Ask with the term we would use, without adopting it yet.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    // Our own vote first: a single-voter cluster wins at once.
    this.trk.recordVote(this.id, true);
    if (this.trk.tallyVotes().result === 'won') {
      if (t === 'PreElection') this.campaign0('Election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voters()) {
      if (id === this.id) continue;
      const m = newMessage({ type: voteType, to: id, term, index: lastIndex, logTerm: lastTerm });
      if (t === 'Transfer') m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  // ---- message handling ----

  private send(m: Message): void {
    if (m.from === '') m.from = this.id;
    if (
      m.type === MessageType.Vote ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.PreVoteResp
    ) {
      // Vote messages carry their term explicitly (a pre-vote asks for term+1).
    } else if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  private stepInternal(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isTransferCtx(m.context);
        const inLease = this.checkQuorum && this.lead !== '' && this.electionElapsed < this.electionTimeout;
        // Heard from a leader within the minimum election timeout: do not let this candidate depose it.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term in response to a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term in a granted pre-vote is the one we will campaign for; adopt it only if we win.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. healed from a partition) would never learn of the new term otherwise,
        // because with pre-vote or check-quorum nobody campaigns against it with a higher term.
        this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        // Let the pre-candidate learn our term so it stops campaigning.
        this.send(newMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? 'PreElection' : 'Election');
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === '' && this.lead === '') ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const upToDate = this.bugs.voteWithoutLogCheck === true || this.raftLog.isUpToDate(m.index, m.logTerm);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && upToDate) {
          // Reply with the asked term: for a pre-vote that is one we have not adopted.
          this.send(newMessage({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(newMessage({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        break;
    }
    switch (this.state) {
      case StateType.Leader:
        this.stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateType.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive(this.id)) {
          this.becomeFollower(this.term, '');
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop: {
        if (m.entries.length === 0) throw new RaftError(RaftErrorCode.InvalidConfig, 'A proposal must carry at least one entry.');
        if (!this.trk.progress.has(this.id)) throw proposalDropped('this node was removed from the cluster');
        if (this.leadTransferee !== '') throw proposalDropped(`leadership is being transferred to ${this.leadTransferee}`);
        const entries = m.entries.map((e) => ({ ...e }));
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          if (e.type !== EntryType.ConfChange) continue;
          // One change at a time, and only once an entry of this term committed (Ongaro's fix for
          // single-server changes across leader changes): a change that races becomes a no-op.
          if (this.pendingConfIndex > this.raftLog.applied || !this.committedEntryInCurrentTerm()) {
            entries[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) };
          } else {
            this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
          }
        }
        if (!this.appendEntry(entries)) throw proposalDropped('too much uncommitted data is waiting');
        this.bcastAppend();
        return;
      }
      case MessageType.ReadIndex:
        if (this.trk.voters().length === 1 && this.trk.isVoter(this.id)) {
          this.responseToReadIndexReq(m, this.raftLog.committed);
          return;
        }
        // Until an entry of this term commits, our commit index may be behind the true one (§8).
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
      case MessageType.TransferLeader: {
        const pr = this.trk.progress.get(m.from);
        if (!pr || pr.isLearner) return;
        const to = m.from;
        if (this.leadTransferee !== '') {
          if (this.leadTransferee === to) return;
          this.abortLeaderTransfer();
        }
        if (to === this.id) return;
        // The transfer must finish within an election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = to;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(to);
        else this.sendAppend(to);
        return;
      }
      default:
        break;
    }

    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) {
          let nextProbeIdx = m.rejectHint;
          if (m.logTerm > 0) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
        } else {
          const oldPaused = pr.isPaused();
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === ProgressState.Probe) {
              pr.becomeReplicate();
            } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
              pr.becomeProbe();
              pr.becomeReplicate();
            } else if (pr.state === ProgressState.Replicate) {
              pr.inflights.freeLE(m.index);
            }
            if (this.maybeCommit()) {
              this.releasePendingReadIndexMessages();
              this.bcastAppend();
            } else if (oldPaused) {
              this.sendAppend(m.from);
            }
            while (this.maybeSendAppend(m.from, false)) {
              // fill the window
            }
            if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(m.from);
          }
        }
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
        if (this.readOnlyOption !== ReadOnlyOption.Safe || !m.context || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks) return;
        let voters = 0;
        for (const id of acks) if (this.trk.isVoter(id)) voters++;
        if (voters < this.trk.quorum()) return;
        for (const rs of this.readOnly.advance(m.context)) this.responseToReadIndexReq(rs.req, rs.index);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing, so a failed snapshot is not resent in a tight loop.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        throw proposalDropped('an election is in progress');
      case MessageType.ReadIndex:
        throw proposalDropped('an election is in progress');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myResp: {
        this.trk.recordVote(m.from, !m.reject);
        const { result } = this.trk.tallyVotes();
        if (result === 'won') {
          if (this.state === StateType.PreCandidate) {
            this.campaign0('Election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          // A pre-candidate that lost has the same term: a follower again, with no vote cast.
          this.becomeFollower(this.term, '');
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === '') throw proposalDropped('no leader is known');
        if (this.disableProposalForwarding) throw proposalDropped('this node is not the leader and forwarding is disabled');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === '') throw proposalDropped('no leader is known to transfer leadership from');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign at once, past any lease (the leader asked for it).
        if (!this.promotable() || this.hasUnappliedConfChanges()) return;
        this.campaign0('Transfer');
        return;
      case MessageType.ReadIndex:
        if (this.lead === '') throw proposalDropped('no leader is known to serve the read');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Reject, with a hint that lets the leader skip a whole conflicting term at once.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      newMessage({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    const resp = newMessage({ type: MessageType.HeartbeatResp, to: m.from });
    if (m.context) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    if (m.snapshot && this.restore(m.snapshot)) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed }));
    }
  }

  private restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      this.becomeFollower(this.term + 1, '');
      return false;
    }

    // etcd refuses a snapshot whose membership lacks the recipient. We take it: a snapshot is
    // committed state, and a joiner whose addition is newer than the leader's last snapshot would
    // otherwise never catch up. Outside the config we cannot campaign; the entries after the
    // snapshot carry our own addition (or confirm our removal).
    if (this.raftLog.matchTerm(meta.index, meta.term)) {
      // We already have the snapshot's entries: just fast-forward the commit index.
      this.raftLog.commitTo(meta.index);
      return false;
    }
    this.raftLog.restore(s);
    this.loadConfState(meta.confState);
    const self = this.trk.progress.get(this.id);
    if (self) self.match = meta.index;
    return true;
  }

  // ---- leader helpers ----

  private appendEntry(es: Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    let size = 0;
    for (const e of es) size += entrySize(e);
    if (this.maxUncommittedSize > 0 && this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += size;
    const stamped = es.map((e, i) => ({ ...e, term: this.term, index: li + 1 + i }));
    const last = this.raftLog.append(stamped);
    // The leader counts itself only once the entries are durable (advance()); a single voter commits then.
    if (this.bugs.leaderCountsUnpersistedEntries === true) {
      this.trk.progress.get(this.id)?.maybeUpdate(last);
      this.maybeCommit();
    }
    return true;
  }

  private maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (this.bugs.commitPreviousTermByCounting === true) {
      if (mci > this.raftLog.committed) {
        this.raftLog.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.raftLog.maybeCommit(mci, this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.readOnlyOption === ReadOnlyOption.Safe) {
      const ctx = m.context ?? new Uint8Array(0);
      this.readOnly.add(this.raftLog.committed, m);
      this.readOnly.recvAck(this.id, ctx);
      this.bcastHeartbeatWithCtx(ctx);
    } else {
      this.responseToReadIndexReq(m, this.raftLog.committed);
    }
  }

  private responseToReadIndexReq(req: Message, index: number): void {
    if (req.from === '' || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context ?? new Uint8Array(0) });
      return;
    }
    const resp = newMessage({ type: MessageType.ReadIndexResp, to: req.from, index });
    if (req.context) resp.context = req.context;
    this.send(resp);
  }

  private bcastAppend(): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingContext());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const m = newMessage({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.raftLog.committed) });
      if (ctx) m.context = ctx;
      this.send(m);
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.raftLog.term(pr.next - 1);
      ents = this.raftLog.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (isCompacted(err)) return this.sendSnapshot(to, pr);
      if (isUnavailable(err)) return false;
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    this.send(
      newMessage({ type: MessageType.App, to, index: pr.next - 1, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed }),
    );
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : 0, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower we have heard from: a dead one would just waste the transfer.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.raftLog.snapshot();
    } catch (err) {
      if (isRaftError(err, RaftErrorCode.SnapshotTemporarilyUnavailable)) return false;
      throw err;
    }
    if (snap.metadata.index === 0) return false;
    pr.becomeSnapshot(snap.metadata.index);
    this.send(newMessage({ type: MessageType.Snap, to, snapshot: snap }));
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.TimeoutNow, to }));
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = '';
  }
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
