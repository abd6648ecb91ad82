// The host loop around RaftCore (etcd's node.go / swarmkit's raft.Run, in
// one async loop). Every Ready is handled in this order:
//   send the leader's appends and heartbeats → apply committed entries and
//   resolve waiting proposals and reads → persist (DiskStorage.persist: one
//   fdatasync) → send the other messages → advance. A Ready that changes term
//   or vote holds every message until the fsync; one carrying a snapshot is
//   applied only after it (see core/ready-messages.ts).
// Proposals, reads, ticks and peer messages are fed into the core as they
// arrive, also while a Ready is being persisted, so everything that arrives
// during one fsync is covered by the next one (group commit).
// With pipelineDepth > 1 (off by default) the loop takes the next Ready while
// earlier ones are still being persisted (etcd's async storage writes): steps
// 0-2 run at once, persists run one after another in the order taken, and each
// Ready's late messages and advance wait for its own persist (and so for every
// earlier one). Snapshots are serialized on the loop and written in the
// background (maybeSnapshot).
//
// Proposals are accepted only on the leader: propose() on a follower fails at
// once with a NotLeader error naming the leader (the caller redirects; the
// core's follower forwarding is not used because a forwarded proposal cannot
// be tracked to its index). Linearizable reads work on every member: the core
// forwards the ReadIndex request to the leader.
import { decodeConfChange, encodeConfChange } from '../core/conf-change.js';
import { isProposalDropped } from '../core/errors.js';
import type { MemoryStorage } from '../core/memory-storage.js';
import { RaftCore, newMessage } from '../core/raft-core.js';
import { splitReadyMessages } from '../core/ready-messages.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, Ready, Snapshot, StateType } from '../core/types.js';
import { ConfChangeType, EntryType, MessageType, StateType as States } from '../core/types.js';
import { DiskStorage, type DiskStorageOptions } from '../storage/disk-storage.js';
import type { Peer, Transport } from '../transport/transport.js';
import { decodeMemberContext, decodeSnapshotEnvelope, encodeMemberContext, encodeSnapshotEnvelope } from './envelope.js';
import { RaftNodeError, RaftNodeErrorCode, notLeader } from './errors.js';

/**
 * The replicated application. apply() must be deterministic: every member
 * applies the same entries in the same order and must reach the same state.
 * The state is rebuilt on start from the newest snapshot (restore) and the
 * committed entries after it (apply again), so it may live in memory.
 */
export interface StateMachine {
  /** Applies one committed entry; the result is handed to the proposer on this member. */
  apply(data: Uint8Array, index: number): unknown;
  /** The whole state, for a snapshot at the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}

/** What the node logs through; pino's logger fits it. */
export interface RaftNodeLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

const silentLogger: RaftNodeLogger = { info() {}, warn() {}, error() {} };

export interface RaftNodeOptions {
  id: NodeId;
  /** Where the WAL (dir/wal) and snapshots (dir/snap) live. */
  dataDir: string;
  /**
   * Founding members (this one included) when founding a cluster; the current
   * members' addresses when joining. On a restart, fills in addresses the
   * stored state lacks. This member's own entry names its address for others.
   */
  peers: Peer[];
  /**
   * Join an existing cluster: start with an empty log and wait to be added
   * (addLearner/addMember on the leader) and sent a snapshot. Ignored when
   * dataDir already holds this member's state.
   */
  join?: boolean;
  /** Started by start(), stopped by stop(). */
  transport: Transport;
  stateMachine: StateMachine;
  /** Milliseconds per tick. Default 100. */
  tickMs?: number;
  /** Ticks without a leader before an election. Default 10. */
  electionTick?: number;
  /** Ticks between heartbeats. Default 1. */
  heartbeatTick?: number;
  /** Take a snapshot every this many applied entries. Default 10,000. */
  snapshotEvery?: number;
  /** Entries kept in the log behind a snapshot, so a slightly lagging follower needs no snapshot. Default min(5,000, snapshotEvery). */
  snapshotCatchUpEntries?: number;
  /** Max proposals appended in one batch. Default 4,096. */
  maxBatchProposals?: number;
  /** Max bytes of entry data per append message. Default 1 MiB. */
  maxSizePerMsg?: number;
  /**
   * Readies taken before the previous ones are durable (etcd's async storage writes): while one
   * fsync runs the loop takes the next Ready, sends its early messages and applies its committed
   * entries; Readies are persisted and finished in order. Default 1 (off): on a disk whose
   * fdatasync takes well under a millisecond the loop is CPU-bound, and deeper pipelines only cut
   * the batches smaller (more Readies, messages and fsyncs per write); try 2-4 on slow disks.
   */
  pipelineDepth?: number;
  /** Max append messages in flight per follower. Default 256. */
  maxInflightMsgs?: number;
  /** A read still waiting for its read index after this many ticks fails with Unavailable. Default 2 × electionTick. */
  readTimeoutTicks?: number;
  /** Passed to DiskStorage (segment size, snapshots kept, fs for fault injection). */
  disk?: Omit<DiskStorageOptions, 'snapshotEveryEntries' | 'logger'>;
  logger?: RaftNodeLogger;
  /** Uniform in [0, 1), for election timeouts. Default Math.random. */
  random?: () => number;
  /**
   * Recover from a lost majority (etcd's and swarmkit's --force-new-cluster):
   * commit this member's whole stored log and append the removal of every
   * other member, so it comes back as the only voter with its state intact.
   * Only for an existing data directory.
   */
  forceNewCluster?: boolean;
}

export interface ProposeResult {
  index: number;
  /** What StateMachine.apply returned for the entry on this member. */
  result: unknown;
}

export interface RaftNodeProgress {
  match: number;
  next: number;
  state: string;
  isLearner: boolean;
  recentActive: boolean;
}

export interface RaftNodeStatus {
  id: NodeId;
  state: StateType;
  term: number;
  /** The leader's ID, '' when none is known. */
  lead: NodeId;
  /** The leader's peer entry, when known. */
  leader: Peer | undefined;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  config: ConfState;
  members: Peer[];
  /** Replication progress of each member, on the leader only. */
  progress: Record<NodeId, RaftNodeProgress> | undefined;
}

interface Waiter {
  term: number;
  conf: boolean;
  resolve(r: ProposeResult): void;
  reject(err: Error): void;
}

interface QueuedProposal {
  data: Uint8Array;
  waiter: Waiter;
  signal: AbortSignal | undefined;
  /** Set once appended: the waiting-map key. */
  index: number;
  done: boolean;
}

interface ReadWaiter {
  resolve(): void;
  reject(err: Error): void;
  done: boolean;
}

interface ReadBatch {
  waiters: ReadWaiter[];
  /** 0 until the read index is known. */
  index: number;
  issuedTick: number;
}

const METADATA_VERSION = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The signal's reason when it is an Error (AbortSignal.timeout's TimeoutError, abort(err)), else an AbortError. */
function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException('The operation was aborted.', 'AbortError');
}

export class RaftNode {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly disk: DiskStorage;
  private readonly memory: MemoryStorage;
  private readonly transport: Transport;
  private readonly sm: StateMachine;
  private readonly log: RaftNodeLogger;
  private readonly tickMs: number;
  private readonly electionTick: number;
  private readonly snapshotCatchUp: number;
  private readonly maxBatch: number;
  private readonly readTimeoutTicks: number;

  private readonly members = new Map<NodeId, Peer>();
  private applied: number;
  /** The term of the entry at `applied`. */
  private appliedTerm = 0;
  private ticks = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private fatal: Error | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private flushScheduled = false;
  /** Readies taken and not yet advanced, oldest first (the core's outstanding ones). */
  private readonly inflight: Ready[] = [];
  /** Settles when every Ready in `inflight` is persisted and finished; never rejects. */
  private persisting: Promise<void> = Promise.resolve();
  private readonly pipelineDepth: number;
  /** The term and vote of the newest Ready taken, durable or not. */
  private newestHs: { term: number; vote: NodeId };
  /** The snapshot save in flight (maybeSnapshot), or a settled promise; never rejects. */
  private snapshotSaving: Promise<void> = Promise.resolve();

  private proposals: QueuedProposal[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private readQueue: ReadWaiter[] = [];
  private readonly reads = new Map<string, ReadBatch>();
  private readSeq = 0;
  private readonly readPrefix: string;
  /** Waiters of transferLeadership/promote polls, run on every tick and leader change. */
  private readonly watchers = new Set<() => void>();
  private lastLead: NodeId = '';
  private lastState: StateType = States.Follower;
  private doneResolve!: (err: Error | undefined) => void;
  /** Resolves when the node stops: undefined after stop(), the error after a fatal failure (disk). */
  readonly done: Promise<Error | undefined>;

  private constructor(opts: RaftNodeOptions, disk: DiskStorage, memory: MemoryStorage, applied: number) {
    this.id = opts.id;
    this.disk = disk;
    this.memory = memory;
    this.transport = opts.transport;
    this.sm = opts.stateMachine;
    this.log = opts.logger ?? silentLogger;
    this.tickMs = opts.tickMs ?? 100;
    this.electionTick = opts.electionTick ?? 10;
    const every = opts.snapshotEvery ?? 10_000;
    this.snapshotCatchUp = opts.snapshotCatchUpEntries ?? Math.min(5_000, every);
    this.maxBatch = opts.maxBatchProposals ?? 4_096;
    this.readTimeoutTicks = opts.readTimeoutTicks ?? 2 * this.electionTick;
    this.applied = applied;
    this.pipelineDepth = opts.pipelineDepth ?? 1;
    if (!Number.isInteger(this.pipelineDepth) || this.pipelineDepth < 1) {
      throw new RaftNodeError(RaftNodeErrorCode.InvalidArgument, 'pipelineDepth must be a positive integer.');
    }
    const hs = memory.hardStateNow();
    this.newestHs = { term: hs.term, vote: hs.vote };
    this.readPrefix = `${opts.id}/${Math.floor((opts.random ?? Math.random)() * 2 ** 32).toString(16)}/`;
    this.done = new Promise((resolve) => (this.doneResolve = resolve));
    const coreOpts: ConstructorParameters<typeof RaftCore>[0] = {
      id: opts.id,
      storage: memory,
      electionTick: this.electionTick,
      heartbeatTick: opts.heartbeatTick ?? 1,
      random: opts.random ?? Math.random,
      applied,
      maxSizePerMsg: opts.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: opts.maxInflightMsgs ?? 256,
      asyncStorageWrites: this.pipelineDepth > 1,
    };
    this.core = new RaftCore(coreOpts);
  }

  /**
   * Opens (or creates) the member's storage, restores the state machine from
   * the newest snapshot, starts the transport, the tick timer and the loop.
   * Committed entries after the snapshot are applied again by the loop.
   * Throws RaftNodeError InvalidArgument for bad options or a dataDir that
   * belongs to another member; DataLossError for damaged storage; the
   * transport's errors when it cannot listen; file-system errors.
   */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    if (opts.id === '') throw new RaftNodeError(RaftNodeErrorCode.InvalidArgument, 'The member ID must not be empty.');
    const self = opts.peers.find((p) => p.id === opts.id);
    const diskOpts: DiskStorageOptions = { ...opts.disk, snapshotEveryEntries: opts.snapshotEvery ?? 10_000 };
    if (opts.logger) diskOpts.logger = opts.logger;
    let opened;
    if (await DiskStorage.exists(opts.dataDir, opts.disk?.fs)) {
      opened = await DiskStorage.open(opts.dataDir, diskOpts);
      const meta = JSON.parse(dec.decode(opened.metadata)) as { id?: string };
      if (meta.id !== opts.id) {
        await opened.disk.close();
        throw new RaftNodeError(
          RaftNodeErrorCode.InvalidArgument,
          `The data directory ${opts.dataDir} belongs to member ${meta.id ?? '?'}, not ${opts.id}; use that member's ID or another directory.`,
        );
      }
    } else {
      if (!opts.join && !self) {
        throw new RaftNodeError(RaftNodeErrorCode.InvalidArgument, `The founding peers must include this member (${opts.id}); add it to the peer list.`);
      }
      const metadata = enc.encode(JSON.stringify({ v: METADATA_VERSION, id: opts.id }));
      const confState = { voters: opts.peers.map((p) => p.id), learners: [] };
      opened = await DiskStorage.create(opts.dataDir, opts.join ? { metadata } : { metadata, confState }, diskOpts);
    }
    if (opts.forceNewCluster) await forceNewCluster(opts.id, opened, opts.peers);
    const snapIndex = opened.memory.snapshot().metadata.index;
    const node = new RaftNode(opts, opened.disk, opened.memory, snapIndex);
    try {
      const env = decodeSnapshotEnvelope(opened.memory.snapshot().data);
      if (env) {
        for (const p of env.members) node.members.set(p.id, p);
        node.sm.restore(env.app);
      }
      // Stored addresses are the replicated truth; the given peers fill gaps.
      for (const p of opts.peers) if (!node.members.has(p.id) || p.id === opts.id) node.members.set(p.id, p);
      await node.transport.start((msgs) => node.receive(msgs));
    } catch (err) {
      await opened.disk.close();
      throw err;
    }
    for (const p of node.members.values()) if (p.id !== node.id) node.transport.addPeer(p.id, p.addr);
    node.timer = setInterval(() => node.onTick(), node.tickMs);
    node.loopDone = node.loop();
    node.log.info({ 'node.id': node.id, applied: snapIndex, members: node.members.size }, 'raft node started');
    return node;
  }

  // ---- public API ----

  /**
   * Proposes `data` and resolves once it is committed and applied on this
   * member, with StateMachine.apply's result.
   * Rejects with RaftNodeError NotLeader when this member is not the leader or
   * loses leadership before the entry applies (`indeterminate` tells whether
   * the entry may still apply), Unavailable when the leader cannot take
   * proposals now (a leadership transfer, the node stopping), or the signal's
   * reason when it aborts (the entry may still apply).
   */
  propose(data: Uint8Array, signal?: AbortSignal): Promise<ProposeResult> {
    const early = this.refuse(signal);
    if (early) return Promise.reject(early);
    return new Promise<ProposeResult>((resolve, reject) => {
      const p: QueuedProposal = { data, signal, index: 0, done: false, waiter: { term: 0, conf: false, resolve, reject } };
      const onAbort = () => {
        if (p.done) return;
        if (p.index > 0 && this.waiting.get(p.index) === p.waiter) this.waiting.delete(p.index);
        p.waiter.reject(abortReason(signal!));
      };
      if (signal) {
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = (): void => {
          p.done = true;
          signal.removeEventListener('abort', onAbort);
        };
        p.waiter = {
          term: 0,
          conf: false,
          resolve: (r) => { settle(); resolve(r); },
          reject: (e) => { settle(); reject(e); },
        };
      } else {
        p.waiter = { term: 0, conf: false, resolve: (r) => { p.done = true; resolve(r); }, reject: (e) => { p.done = true; reject(e); } };
      }
      this.proposals.push(p);
      this.scheduleFlush();
    });
  }

  /**
   * A linearizable read barrier: resolves once this member has applied
   * everything committed before the call, so reading the state machine then
   * is linearizable. Works on followers (the leader confirms the index).
   * Rejects with NotLeader when no leader is known or leadership changes
   * before the index is confirmed, Unavailable after readTimeoutTicks, or
   * the signal's reason.
   */
  readIndex(signal?: AbortSignal): Promise<void> {
    const early = this.refuse(signal);
    if (early) return Promise.reject(early);
    return new Promise<void>((resolve, reject) => {
      const w: ReadWaiter = { done: false, resolve, reject };
      const onAbort = () => w.reject(abortReason(signal!));
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      w.resolve = () => {
        if (w.done) return;
        w.done = true;
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      w.reject = (e) => {
        if (w.done) return;
        w.done = true;
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      this.readQueue.push(w);
      this.scheduleFlush();
    });
  }

  /**
   * Adds a voting member (one change at a time; prefer addLearner then
   * promote, so the new member catches up before it counts for quorum).
   * Resolves with the new configuration once applied here. Rejects with
   * NotLeader, FailedPrecondition when it is already a voter, Unavailable when
   * another change is in flight (retry), or the signal's reason.
   */
  async addMember(id: NodeId, addr: string, signal?: AbortSignal, meta?: string): Promise<ConfState> {
    const cs = this.core.status().config;
    if (cs.voters.includes(id)) throw new RaftNodeError(RaftNodeErrorCode.FailedPrecondition, `Member ${id} is already a voter.`);
    const peer: Omit<Peer, 'id'> = meta === undefined ? { addr } : { addr, meta };
    return this.confChange({ type: ConfChangeType.AddNode, nodeId: id, context: encodeMemberContext(peer) }, signal);
  }

  /** Adds a non-voting learner that receives the log. Rejects as addMember. */
  async addLearner(id: NodeId, addr: string, signal?: AbortSignal, meta?: string): Promise<ConfState> {
    const cs = this.core.status().config;
    if (cs.voters.includes(id) || cs.learners.includes(id)) {
      throw new RaftNodeError(RaftNodeErrorCode.FailedPrecondition, `Member ${id} is already in the cluster.`);
    }
    const peer: Omit<Peer, 'id'> = meta === undefined ? { addr } : { addr, meta };
    return this.confChange({ type: ConfChangeType.AddLearner, nodeId: id, context: encodeMemberContext(peer) }, signal);
  }

  /**
   * Makes a learner a voter once it has caught up: waits (tick by tick) until
   * its log is within `maxLag` entries of the leader's commit index, then
   * proposes the change. Rejects with FailedPrecondition when `id` is not a
   * learner, NotLeader, Unavailable, or the signal's reason.
   */
  async promote(id: NodeId, signal?: AbortSignal, maxLag = 100): Promise<ConfState> {
    if (!this.core.status().config.learners.includes(id)) {
      throw new RaftNodeError(RaftNodeErrorCode.FailedPrecondition, `Member ${id} is not a learner; add it with addLearner first.`);
    }
    await this.until(() => {
      const st = this.core.status();
      if (st.state !== States.Leader) throw notLeader('This member is not the leader', st.lead, this.members.get(st.lead)?.addr, false);
      const pr = st.progress?.get(id);
      return pr !== undefined && pr.match + maxLag >= st.commit;
    }, signal);
    const peer = this.members.get(id);
    const context = peer ? encodeMemberContext(peer) : new Uint8Array(0);
    return this.confChange({ type: ConfChangeType.AddNode, nodeId: id, context }, signal);
  }

  /** Removes a member (voter or learner). Rejects with FailedPrecondition for an unknown member, or as addMember. */
  async removeMember(id: NodeId, signal?: AbortSignal): Promise<ConfState> {
    const cs = this.core.status().config;
    if (!cs.voters.includes(id) && !cs.learners.includes(id)) {
      throw new RaftNodeError(RaftNodeErrorCode.FailedPrecondition, `Member ${id} is not in the cluster.`);
    }
    return this.confChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }, signal);
  }

  /**
   * Hands leadership to voter `to` and resolves when `to` is the leader.
   * Rejects with Unavailable when the transfer did not finish within two
   * election timeouts, FailedPrecondition when `to` is not a voter, NotLeader
   * when no leader is known, or the signal's reason.
   */
  async transferLeadership(to: NodeId, signal?: AbortSignal): Promise<void> {
    const early = this.refuse(signal);
    if (early) throw early;
    if (!this.core.status().config.voters.includes(to)) {
      throw new RaftNodeError(RaftNodeErrorCode.FailedPrecondition, `Member ${to} is not a voter; only voters can lead.`);
    }
    if (this.core.lead === to) return;
    if (this.core.lead === '') throw notLeader('Cannot transfer leadership', '', undefined, false);
    this.core.transferLeadership(to);
    this.kick();
    const deadline = this.ticks + 2 * this.electionTick;
    await this.until(() => {
      if (this.core.lead === to) return true;
      if (this.ticks > deadline) {
        throw new RaftNodeError(RaftNodeErrorCode.Unavailable, `Leadership did not move to ${to} within two election timeouts; check that it is up and caught up, then retry.`);
      }
      return false;
    }, signal);
  }

  status(): RaftNodeStatus {
    const st = this.core.status();
    let progress: Record<NodeId, RaftNodeProgress> | undefined;
    if (st.progress) {
      progress = {};
      for (const [id, pr] of st.progress) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive };
      }
    }
    return {
      id: this.id,
      state: st.state,
      term: st.term,
      lead: st.lead,
      leader: this.members.get(st.lead),
      commit: st.commit,
      applied: this.applied,
      lastIndex: st.lastIndex,
      snapshotIndex: this.memory.snapshot().metadata.index,
      config: st.config,
      members: [...this.members.values()],
      progress,
    };
  }

  /** True when this member is the leader now. */
  isLeader(): boolean {
    return this.core.state === States.Leader;
  }

  /** The member's address book entry for `id`, if known. */
  member(id: NodeId): Peer | undefined {
    return this.members.get(id);
  }

  /**
   * Stops the timer and the loop (after the Ready in progress), rejects every
   * waiter with Unavailable, stops the transport and closes the WAL.
   * Throws file-system errors from closing the WAL.
   */
  async stop(): Promise<void> {
    if (this.fatal) return;
    if (this.stopping) {
      await this.loopDone;
      return;
    }
    this.stopping = true;
    clearInterval(this.timer);
    this.kick();
    await this.loopDone;
    this.failAll(new RaftNodeError(RaftNodeErrorCode.Unavailable, `Raft member ${this.id} is stopping; retry on another member.`, { indeterminate: true }));
    await this.transport.stop();
    // Let a snapshot save in flight finish before the WAL closes (a save that fails now is
    // harmless: the WAL still holds every entry since the previous snapshot).
    await this.snapshotSaving;
    try {
      await this.disk.close();
    } finally {
      this.doneResolve(this.fatal);
    }
  }

  // ---- inputs ----

  private refuse(signal: AbortSignal | undefined): Error | undefined {
    if (signal?.aborted) return abortReason(signal);
    if (this.fatal) return new RaftNodeError(RaftNodeErrorCode.Internal, `Raft member ${this.id} stopped after a fatal error: ${this.fatal.message}`, { cause: this.fatal });
    if (this.stopping) return new RaftNodeError(RaftNodeErrorCode.Unavailable, `Raft member ${this.id} is stopping; retry on another member.`);
    return undefined;
  }

  private receive(msgs: Message[]): void {
    if (this.stopping) return;
    for (const m of msgs) {
      try {
        if (m.type === MessageType.Unreachable) this.core.reportUnreachable(m.from);
        else if (m.type === MessageType.SnapStatus) this.core.reportSnapshot(m.from, !m.reject);
        else if (m.to === this.id) this.core.step(m);
      } catch (err) {
        this.log.warn({ 'node.id': this.id, from: m.from, type: m.type, err: (err as Error).message }, 'raft message ignored');
      }
    }
    this.kick();
  }

  private onTick(): void {
    if (this.stopping) return;
    this.ticks++;
    this.core.tick();
    for (const [ctx, b] of this.reads) {
      if (b.index === 0 && this.ticks - b.issuedTick > this.readTimeoutTicks) {
        this.reads.delete(ctx);
        const err = new RaftNodeError(RaftNodeErrorCode.Unavailable, 'The leader did not confirm the read in time; retry.');
        for (const w of b.waiters) w.reject(err);
      }
    }
    this.runWatchers();
    this.kick();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate: let every request that arrived in this turn of the event loop join the batch.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Feeds queued proposals (as batched Prop messages) and reads (one ReadIndex per batch) into the core. */
  private flush(): void {
    if (this.stopping) return;
    while (this.proposals.length > 0) {
      const batch = this.proposals.splice(0, this.maxBatch).filter((p) => !p.done);
      if (batch.length === 0) continue;
      if (this.core.state !== States.Leader) {
        const err = notLeader('This member is not the leader', this.core.lead, this.members.get(this.core.lead)?.addr, false);
        for (const p of batch) p.waiter.reject(err);
        continue;
      }
      const before = this.core.raftLog.lastIndex();
      const term = this.core.term;
      this.core.step(
        newMessage({
          type: MessageType.Prop,
          from: this.id,
          entries: batch.map((p) => ({ term: 0, index: 0, type: EntryType.Normal, data: p.data })),
        }),
      );
      if (this.core.raftLog.lastIndex() !== before + batch.length || this.core.state !== States.Leader || this.core.term !== term) {
        // Dropped as a whole (e.g. a leadership transfer is in flight): nothing was appended.
        const err = new RaftNodeError(RaftNodeErrorCode.Unavailable, 'The leader cannot take proposals right now (a leadership transfer may be in flight); retry shortly.');
        for (const p of batch) p.waiter.reject(err);
        continue;
      }
      batch.forEach((p, k) => {
        p.index = before + 1 + k;
        p.waiter.term = term;
        this.waiting.set(p.index, p.waiter);
      });
    }
    const readers = this.readQueue.filter((w) => !w.done);
    this.readQueue = [];
    if (readers.length > 0) {
      const ctx = `${this.readPrefix}${this.readSeq++}`;
      try {
        this.core.readIndex(enc.encode(ctx));
        this.reads.set(ctx, { waiters: readers, index: 0, issuedTick: this.ticks });
      } catch (err) {
        if (!isProposalDropped(err)) throw err;
        const e = notLeader('No leader can confirm the read', this.core.lead, this.members.get(this.core.lead)?.addr, false);
        for (const w of readers) w.reject(e);
      }
    }
    this.kick();
  }

  private async confChange(cc: ConfChange, signal: AbortSignal | undefined): Promise<ConfState> {
    const early = this.refuse(signal);
    if (early) throw early;
    if (this.core.state !== States.Leader) {
      throw notLeader('Membership changes go to the leader', this.core.lead, this.members.get(this.core.lead)?.addr, false);
    }
    const before = this.core.raftLog.lastIndex();
    const term = this.core.term;
    try {
      this.core.proposeConfChange(cc);
    } catch (err) {
      if (!isProposalDropped(err)) throw err;
      throw new RaftNodeError(
        RaftNodeErrorCode.Unavailable,
        'The leader cannot take a membership change now (another change is still being applied, or the leader is newly elected); retry shortly.',
        { cause: err },
      );
    }
    if (this.core.raftLog.lastIndex() !== before + 1) {
      throw new RaftNodeError(RaftNodeErrorCode.Unavailable, 'The leader cannot take a membership change right now; retry shortly.');
    }
    const index = before + 1;
    this.kick();
    const r = await new Promise<ProposeResult>((resolve, reject) => {
      const onAbort = () => {
        if (this.waiting.get(index) === w) this.waiting.delete(index);
        reject(abortReason(signal!));
      };
      const w: Waiter = {
        term,
        conf: true,
        resolve: (v) => { signal?.removeEventListener('abort', onAbort); resolve(v); },
        reject: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(index, w);
    });
    return r.result as ConfState;
  }

  /** Resolves when `check` returns true (checked on every tick and Ready); rejects when it throws or the signal aborts. */
  private until(check: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const run = () => {
        let ok: boolean;
        try {
          if (this.stopping) throw new RaftNodeError(RaftNodeErrorCode.Unavailable, `Raft member ${this.id} is stopping; retry on another member.`);
          ok = check();
        } catch (err) {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (ok) {
          finish();
          resolve();
        }
      };
      const onAbort = () => {
        finish();
        reject(abortReason(signal!));
      };
      const finish = () => {
        this.watchers.delete(run);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.watchers.add(run);
      run();
    });
  }

  private runWatchers(): void {
    for (const w of [...this.watchers]) w();
  }

  // ---- the loop ----

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      if (this.inflight.length >= this.pipelineDepth || !this.core.hasReady()) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const rd = this.core.ready();
      try {
        await this.beginReady(rd);
      } catch (err) {
        this.die(err as Error);
        return;
      }
    }
    // Let the Readies in flight finish (or fail) before the WAL closes.
    await this.persisting;
  }

  /**
   * Steps 0-2 of a Ready now, then queues its persist (3) behind the Readies in flight and
   * returns, so the loop can take the next Ready while the fsync runs; finishReady (4, 5) runs
   * when it is durable, in the order taken. A Ready carrying a snapshot waits for the pipeline
   * to drain and is finished before the next is taken (the core hands out none in the meantime).
   */
  private async beginReady(rd: Ready): Promise<void> {
    // 0. Leadership lost or moved: fail waiters first, before anything of this Ready is applied.
    if (rd.softState) this.onSoftState(rd.softState.lead, rd.softState.state);
    if (rd.hardState) this.newestHs = { term: rd.hardState.term, vote: rd.hardState.vote };
    // 1. The leader's appends and heartbeats go out now, so followers write in parallel with our
    //    own fsync (the core counts our entries for commit only after advance()); not while a
    //    term or vote change (this Ready's or one in flight) is not durable yet.
    const { beforePersist, afterPersist } = splitReadyMessages(rd, this.memory.hardStateNow(), this.newestHs);
    if (beforePersist.length > 0) this.transport.send(beforePersist);
    const snapshot = rd.snapshot && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined;
    if (snapshot) {
      // A received snapshot is applied only once it is on disk, after everything before it.
      await this.persisting;
      if (this.fatal) return;
      await this.snapshotSaving;
      this.inflight.push(rd);
      await this.disk.persist(rd);
      this.finishReady(rd, afterPersist, snapshot);
      return;
    }
    // 2. Committed entries are durable on a quorum already: apply them while our fsync runs.
    this.applyReady(rd);
    // 3. Persist in order: one fdatasync for hard state + entries, after the previous Ready's.
    this.inflight.push(rd);
    this.persisting = this.persisting.then(async () => {
      if (this.fatal) return;
      try {
        await this.disk.persist(rd);
        this.finishReady(rd, afterPersist, undefined);
      } catch (err) {
        if (!this.fatal) this.die(err as Error);
      }
    });
  }

  /** 4. Send what promises our durable state (append and vote responses, ...). 5. Advance. */
  private finishReady(rd: Ready, afterPersist: Message[], snapshot: Snapshot | undefined): void {
    if (afterPersist.length > 0) this.transport.send(afterPersist);
    if (snapshot) {
      this.applySnapshot(snapshot);
      this.applyReady(rd);
    }
    this.inflight.shift();
    this.core.advance(rd);
    if (rd.committedEntries.length > 0 || rd.softState) this.runWatchers();
    if (rd.committedEntries.length > 0) this.maybeSnapshot();
    this.kick();
  }

  /** Applies the Ready's committed entries, then records confirmed read indexes and serves those now applied. */
  private applyReady(rd: Ready): void {
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const b = this.reads.get(dec.decode(rs.requestCtx));
      if (b) b.index = rs.index;
    }
    this.serveReads();
  }

  private onSoftState(lead: NodeId, state: StateType): void {
    const wasLeader = this.lastState === States.Leader;
    if (wasLeader && state !== States.Leader && this.waiting.size > 0) {
      const err = notLeader('Leadership was lost before the entry was applied', lead, this.members.get(lead)?.addr, true);
      const ws = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of ws) w.reject(err);
    }
    if (lead !== this.lastLead) {
      // A read index not yet confirmed will never be: the old leader forgot the request.
      const err = notLeader('The leader changed before the read was confirmed', lead, this.members.get(lead)?.addr, false);
      for (const [ctx, b] of this.reads) {
        if (b.index !== 0) continue;
        this.reads.delete(ctx);
        for (const w of b.waiters) w.reject(err);
      }
      this.log.info({ 'node.id': this.id, lead, state, term: this.core.term }, 'raft leader changed');
    }
    this.lastLead = lead;
    this.lastState = state;
  }

  private applySnapshot(snap: Snapshot): void {
    const env = decodeSnapshotEnvelope(snap.data);
    if (env) {
      this.sm.restore(env.app);
      const old = new Set(this.members.keys());
      for (const p of env.members) {
        this.members.set(p.id, p);
        old.delete(p.id);
        if (p.id !== this.id) this.transport.addPeer(p.id, p.addr);
      }
      const cs = snap.metadata.confState;
      for (const id of old) {
        if (id !== this.id && !cs.voters.includes(id) && !cs.learners.includes(id)) {
          this.members.delete(id);
          this.transport.removePeer(id);
        }
      }
    }
    this.applied = snap.metadata.index;
    this.appliedTerm = snap.metadata.term;
    // Proposals covered by the snapshot may or may not be in it.
    for (const [i, w] of this.waiting) {
      if (i > this.applied) continue;
      this.waiting.delete(i);
      w.reject(notLeader('The entry was replaced by a snapshot from the leader', this.core.lead, this.members.get(this.core.lead)?.addr, true));
    }
    this.log.info({ 'node.id': this.id, index: snap.metadata.index }, 'raft snapshot applied');
  }

  private applyEntry(e: Entry): void {
    let result: unknown;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      result = this.core.applyConfChange(cc);
      this.applyMembership(cc);
    } else if (e.data.length > 0) {
      result = this.sm.apply(e.data, e.index);
    }
    this.applied = e.index;
    this.appliedTerm = e.term;
    const w = this.waiting.get(e.index);
    if (!w) return;
    this.waiting.delete(e.index);
    if (w.term !== e.term) {
      w.reject(notLeader('The entry was overwritten by a new leader', this.core.lead, this.members.get(this.core.lead)?.addr, false));
    } else if (w.conf && e.type !== EntryType.ConfChange) {
      w.reject(new RaftNodeError(RaftNodeErrorCode.Unavailable, 'The membership change raced another one and was dropped; retry.'));
    } else {
      w.resolve({ index: e.index, result });
    }
  }

  private applyMembership(cc: ConfChange): void {
    if (cc.type === ConfChangeType.RemoveNode) {
      this.members.delete(cc.nodeId);
      if (cc.nodeId !== this.id) this.transport.removePeer(cc.nodeId);
      else this.log.warn({ 'node.id': this.id }, 'this member was removed from the cluster');
      return;
    }
    const ctx = decodeMemberContext(cc.context);
    if (!ctx) return;
    const peer: Peer = { id: cc.nodeId, ...ctx };
    this.members.set(cc.nodeId, peer);
    if (cc.nodeId !== this.id) this.transport.addPeer(cc.nodeId, peer.addr);
  }

  private serveReads(): void {
    for (const [ctx, b] of this.reads) {
      if (b.index === 0 || b.index > this.applied) continue;
      this.reads.delete(ctx);
      for (const w of b.waiters) w.resolve();
    }
  }

  /**
   * Takes a snapshot when one is due. The state is serialized now, so it is
   * exactly the state at `applied`; writing it (file + fsync, WAL mark, WAL
   * release) runs in the background so the loop can take the next Ready. One
   * save runs at a time (chained), and DiskStorage.saveSnapshot releases WAL
   * segments only after the snapshot file and its WAL mark are durable; until
   * then a crash restarts from the previous snapshot and the WAL, which still
   * holds every entry. Trimming the in-memory log early is safe for the same
   * reason: the WAL on disk is untouched. A failed save is fatal, like a failed
   * WAL write.
   */
  private maybeSnapshot(): void {
    if (!this.disk.needsSnapshot(this.applied)) return;
    const index = this.applied;
    // With Readies in flight the applied entries may not all be durable here yet (or the durable
    // log may still hold an older entry at `index` that a Ready in flight overwrites); the
    // snapshot's metadata comes from the durable log, so wait until it holds the applied entry.
    if (index > this.memory.lastIndex() || index < this.memory.firstIndex() || this.memory.term(index) !== this.appliedTerm) return;
    const data = encodeSnapshotEnvelope({ members: [...this.members.values()], app: this.sm.snapshot() });
    const snap = this.memory.createSnapshot(index, this.core.status().config, data);
    const cut = index - this.snapshotCatchUp;
    if (cut >= this.memory.firstIndex()) this.memory.compact(cut);
    this.snapshotSaving = this.snapshotSaving.then(async () => {
      if (this.fatal) return;
      try {
        await this.disk.saveSnapshot(snap);
        this.log.info({ 'node.id': this.id, index }, 'raft snapshot saved');
      } catch (err) {
        if (this.stopping) this.log.warn({ 'node.id': this.id, index, err: (err as Error).message }, 'raft snapshot not saved: the node is stopping');
        else this.die(err as Error);
      }
    });
  }

  private die(err: Error): void {
    this.fatal = err;
    this.stopping = true;
    this.kick();
    clearInterval(this.timer);
    this.log.error({ 'node.id': this.id, err: err.message }, 'raft node stopped on a fatal error');
    this.failAll(new RaftNodeError(RaftNodeErrorCode.Internal, `Raft member ${this.id} stopped after a fatal error: ${err.message}`, { cause: err, indeterminate: true }));
    void this.transport.stop().catch(() => undefined);
    void this.disk.close().catch(() => undefined);
    this.doneResolve(err);
  }

  private failAll(err: RaftNodeError): void {
    const ws = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of ws) w.reject(err);
    for (const p of this.proposals) p.waiter.reject(err);
    this.proposals = [];
    for (const w of this.readQueue) w.reject(err);
    this.readQueue = [];
    for (const b of this.reads.values()) for (const w of b.waiters) w.reject(err);
    this.reads.clear();
    this.runWatchers();
  }
}

/**
 * Rewrites an opened member's log for --force-new-cluster: every stored entry
 * committed, then one committed RemoveNode per other member (from the newest
 * snapshot's configuration and members, the log's membership changes, and
 * the given peers). Applying them on start leaves this member the only voter.
 * Throws file-system errors.
 */
async function forceNewCluster(self: NodeId, opened: { disk: DiskStorage; memory: MemoryStorage }, peers: Peer[]): Promise<void> {
  const mem = opened.memory;
  const snap = mem.snapshot();
  const others = new Set<NodeId>([...snap.metadata.confState.voters, ...snap.metadata.confState.learners, ...peers.map((p) => p.id)]);
  const env = decodeSnapshotEnvelope(snap.data);
  for (const p of env?.members ?? []) others.add(p.id);
  const last = mem.lastIndex();
  if (last >= mem.firstIndex()) {
    for (const e of mem.entries(mem.firstIndex(), last + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.ConfChange) others.add(decodeConfChange(e.data).nodeId);
    }
  }
  others.delete(self);
  const hs = mem.hardStateNow();
  const entries: Entry[] = [...others].sort().map((id, i) => ({
    term: hs.term,
    index: last + 1 + i,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array() }),
  }));
  await opened.disk.persist({ hardState: { ...hs, commit: last + entries.length }, entries, snapshot: undefined, mustSync: true });
}
