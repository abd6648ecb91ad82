// The deterministic cluster simulator. One seeded PRNG drives everything:
// which message is delivered (or dropped, duplicated, reordered), when nodes
// tick, crash (losing unsynced writes) and restart, partitions, client
// proposals, reads, snapshots and membership changes. After every step the
// invariants are checked; a failure reports the seed, and the same seed with
// the same options replays the identical run.

import { decodeConfChange } from '../core/conf-change.js';
import { isProposalDropped } from '../core/errors.js';
import { MemoryStorage } from '../core/memory-storage.js';
import { RaftCore } from '../core/raft-core.js';
import type { RaftTestingBugs } from '../core/raft-core.js';
import { splitReadyMessages } from '../core/ready-messages.js';
import type { ConfChange, Message, NodeId, Ready } from '../core/types.js';
import { ConfChangeType, EntryType, MessageType, StateType } from '../core/types.js';
import { InvariantViolation, Invariants } from './invariants.js';
import { Prng } from './prng.js';
import { SimDisk } from './sim-disk.js';

export interface SimOptions {
  seed: number;
  /** Founding members. Default 3 (odd seeds) or 5 (even seeds) when undefined. */
  nodes?: number;
  /** Randomized steps before the final heal-and-settle phase. Default 600. */
  steps?: number;
  electionTick?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Probabilities applied per delivery. */
  dropRate?: number;
  dupRate?: number;
  /** Chance that a delivery picks a random in-flight message instead of the oldest. */
  reorderRate?: number;
  /** Per-step chance of a crash / restart / partition change / membership change. */
  crashRate?: number;
  partitionRate?: number;
  confChangeRate?: number;
  maxNodes?: number;
  /** Bytes of entry data per append message (small values split catch-up into many messages). Default 64. */
  maxSizePerMsg?: number;
  /**
   * Readies a node may have taken and not yet finished (RaftNodeOptions.pipelineDepth, with the
   * core's asyncStorageWrites). Default SIM_PIPELINE_DEPTH (4), the deepest a host is expected to
   * use, so crashes fall anywhere in a pipeline; 1 is RaftNode's default (no pipelining).
   */
  pipelineDepth?: number;
  testingBugs?: RaftTestingBugs;
  /** Planted host-loop bugs, for proving that the simulator catches them. */
  hostBugs?: SimHostBugs;
  /** Called with a line per notable event (SIM_SEED replays print them). */
  trace?: (line: string) => void;
}

export interface SimHostBugs {
  /** Send every message of a Ready before its fsync (followers acknowledge appends they may lose). */
  sendAllBeforeFsync?: boolean;
  /**
   * A Ready taken while earlier ones are still being persisted sends all its messages at once: a
   * follower acknowledges appends its pipelined writes have not made durable yet.
   */
  respondWhilePipelined?: boolean;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violation?: string;
  acked: number;
  proposed: number;
  reads: number;
  leadersElected: number;
  crashes: number;
  steps: number;
}

interface Flight {
  m: Message;
}

interface InFlight {
  rd: Ready;
  /** The messages that wait until this Ready (and so every earlier one) is durable. */
  late: Message[];
  /** Written to the page cache (not yet fsynced). */
  written: boolean;
}

/** The pipeline depth the simulator runs with unless told otherwise. */
export const SIM_PIPELINE_DEPTH = 4;

const enc = new TextEncoder();
const dec = new TextDecoder();

class SimNode {
  core!: RaftCore;
  disk: SimDisk;
  alive = true;
  incarnation = 0;
  /** Readies taken and not yet finished, oldest first; persisted and finished in this order. */
  pipeline: InFlight[] = [];
  /** The term and vote of the newest Ready taken (durable or not). */
  lastHs: { term: number; vote: NodeId } = { term: 0, vote: '' };
  /** The state machine: payloads applied in order, and the last applied index. */
  payloads: string[] = [];
  payloadSet = new Set<string>();
  appliedIndex = 0;
  /** Proposals this node accepted as leader: payload -> term. Acknowledged when applied here. */
  waiting = new Map<string, number>();
  /** Reads: ctx -> acked payloads that must be visible, and the read index once known. */
  reads = new Map<string, { mustSee: string[]; index: number }>();
  /** The voters before the last applied membership change (for the durable-quorum check). */
  votersBeforeLastChange: NodeId[] | undefined;

  constructor(readonly id: NodeId, storage: MemoryStorage, private readonly sim: Simulator) {
    this.disk = new SimDisk(storage);
    this.start();
  }

  start(): void {
    this.disk.crash();
    const snap = this.disk.volatile.snapshot();
    this.payloads = snap.metadata.index > 1 ? (JSON.parse(dec.decode(snap.data)) as string[]) : [];
    this.payloadSet = new Set(this.payloads);
    this.appliedIndex = snap.metadata.index;
    this.core = new RaftCore({
      id: this.id,
      storage: this.disk.volatile,
      random: this.sim.rng.fork().next.bind(this.sim.rng.fork()),
      electionTick: this.sim.opts.electionTick ?? 10,
      heartbeatTick: 1,
      preVote: this.sim.opts.preVote ?? true,
      checkQuorum: this.sim.opts.checkQuorum ?? true,
      maxSizePerMsg: this.sim.opts.maxSizePerMsg ?? 64,
      maxInflightMsgs: 4,
      applied: snap.metadata.index,
      asyncStorageWrites: (this.sim.opts.pipelineDepth ?? SIM_PIPELINE_DEPTH) > 1,
      ...(this.sim.opts.testingBugs ? { testingBugs: this.sim.opts.testingBugs } : {}),
    });
    this.pipeline = [];
    const hs = this.disk.volatile.hardStateNow();
    this.lastHs = { term: hs.term, vote: hs.vote };
    this.waiting.clear();
    this.reads.clear();
    this.incarnation++;
  }

  crash(): void {
    this.alive = false;
    this.pipeline = [];
    this.waiting.clear();
    this.reads.clear();
  }
}

export class Simulator {
  readonly rng: Prng;
  readonly inv = new Invariants();
  readonly nodes = new Map<NodeId, SimNode>();
  private flights: Flight[] = [];
  private readonly blocked = new Set<string>();
  private nextNodeId: number;
  private payloadSeq = 0;
  private readSeq = 0;
  readonly acked: string[] = [];
  private proposed = 0;
  private readsServed = 0;
  private crashes = 0;
  private readonly leaderTerms = new Set<number>();
  private step = 0;

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    const n = opts.nodes ?? (opts.seed % 2 === 0 ? 5 : 3);
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    this.nextNodeId = n + 1;
    for (const id of ids) this.nodes.set(id, new SimNode(id, MemoryStorage.bootstrap({ voters: ids, learners: [] }), this));
  }

  private trace(s: string): void {
    this.opts.trace?.(`[${this.step}] ${s}`);
  }

  private alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.alive()) {
      if (n.core.state === StateType.Leader && (!best || n.core.term > best.core.term)) best = n;
    }
    return best;
  }

  // ---- the host loop of one node, split where a crash can fall ----

  /**
   * Take a Ready: send what may go before the fsync (the leader's appends, unless the term or vote
   * of this or an earlier Ready in flight is not durable yet), apply its committed entries (they
   * are durable on a quorum already) and queue it for persisting behind the Readies in flight.
   * This is RaftNode.beginReady's order; a snapshot Ready is taken only with nothing in flight.
   */
  private takeReady(n: SimNode): void {
    const rd = n.core.ready();
    // Habit 3: on losing leadership, reject waiting proposals before applying anything.
    if (rd.softState && rd.softState.state !== StateType.Leader) n.waiting.clear();
    if (rd.hardState) n.lastHs = { term: rd.hardState.term, vote: rd.hardState.vote };
    const bugs = this.opts.hostBugs;
    const all = bugs?.sendAllBeforeFsync === true || (bugs?.respondWhilePipelined === true && n.pipeline.length > 0);
    const split = all ? { beforePersist: rd.messages, afterPersist: [] } : splitReadyMessages(rd, n.disk.durable.hardStateNow(), n.lastHs);
    for (const m of split.beforePersist) this.flights.push({ m });
    n.pipeline.push({ rd, late: split.afterPersist, written: false });
    if (!rd.snapshot) this.applyReady(n, rd);
  }

  /**
   * Move the oldest Ready in flight on: write it to the page cache (a crash may fall right after),
   * then fsync it (if it needs one), send the rest, apply a snapshot Ready, advance.
   */
  private persistHead(n: SimNode, syncNow: boolean): void {
    const head = n.pipeline[0]!;
    const rd = head.rd;
    if (!head.written) {
      head.written = true;
      if (rd.snapshot) n.disk.writeSnapshot(rd.snapshot);
      n.disk.writeEntries(rd.entries);
      if (rd.hardState) n.disk.writeHardState(rd.hardState);
      for (const e of rd.entries) {
        const prevTerm = e.index - 1 >= n.disk.volatile.firstIndex() - 1 ? n.disk.volatile.term(e.index - 1) : -1;
        this.inv.checkWritten(n.id, e, prevTerm);
      }
      if (!syncNow && rd.mustSync) return;
    }
    if (rd.mustSync) n.disk.fsync();
    for (const m of head.late) this.flights.push({ m });
    n.pipeline.shift();
    if (rd.snapshot) this.applyReady(n, rd);
    n.core.advance(rd);
  }

  /** Apply the snapshot and committed entries, acknowledge proposals, serve reads. */
  private applyReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      const s = rd.snapshot;
      n.payloads = s.metadata.index > 1 ? (JSON.parse(dec.decode(s.data)) as string[]) : [];
      n.payloadSet = new Set(n.payloads);
      n.appliedIndex = s.metadata.index;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) {
        throw new InvariantViolation('apply order', `node ${n.id} applied index ${e.index} after ${n.appliedIndex}`);
      }
      this.inv.checkCommitted(n.id, e);
      n.appliedIndex = e.index;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        n.votersBeforeLastChange = n.core.status().config.voters;
        n.core.applyConfChange(cc);
        this.trace(`${n.id} applied ${cc.type} ${cc.nodeId} at ${e.index}`);
      } else if (e.data.length > 0) {
        const p = dec.decode(e.data);
        n.payloads.push(p);
        n.payloadSet.add(p);
        if (n.waiting.has(p)) {
          n.waiting.delete(p);
          this.acknowledge(n, p, e.index, e.term);
        }
      }
    }
    for (const rs of rd.readStates) {
      const r = n.reads.get(dec.decode(rs.requestCtx));
      if (r) r.index = rs.index;
    }
    this.serveReads(n);
  }

  /**
   * "Nothing acknowledged before a quorum fsynced it": count the voters whose durable log holds the
   * entry. The commit may have been decided just before the last membership change was applied
   * (one change at a time, so at most one), so a quorum of either configuration passes.
   */
  private acknowledge(n: SimNode, p: string, index: number, term: number): void {
    const now = n.core.status().config.voters;
    const before = n.votersBeforeLastChange;
    const a = this.durableHolders(now, index, term);
    if (a.length >= Math.floor(now.length / 2) + 1) return this.acked1(p);
    if (before && this.durableHolders(before, index, term).length >= Math.floor(before.length / 2) + 1) return this.acked1(p);
    throw new InvariantViolation(
      'durable quorum before ack',
      `${n.id} acknowledged ${p} (index ${index}) while only ${a.join(',') || 'none'} of voters ${now.join(',')} had it on disk`,
    );
  }

  private acked1(p: string): void {
    this.acked.push(p);
  }

  private durableHolders(voters: NodeId[], index: number, term: number): NodeId[] {
    const holders: NodeId[] = [];
    for (const v of voters) {
      const d = this.nodes.get(v)?.disk.durable;
      if (!d) continue;
      if (index <= d.snapshot().metadata.index || (index <= d.lastIndex() && index >= d.firstIndex() && d.term(index) === term)) {
        holders.push(v);
      }
    }
    return holders;
  }

  private serveReads(n: SimNode): void {
    for (const [ctx, r] of n.reads) {
      if (r.index === 0 || n.appliedIndex < r.index) continue;
      for (const p of r.mustSee) {
        if (!n.payloadSet.has(p)) {
          throw new InvariantViolation('linearizable read', `read ${ctx} on ${n.id} at index ${r.index} misses acknowledged write ${p}`);
        }
      }
      n.reads.delete(ctx);
      this.readsServed++;
    }
  }

  // ---- actions ----

  private deliverOne(dropRate: number, dupRate: number, reorderRate: number): void {
    if (this.flights.length === 0) return;
    const i = this.rng.chance(reorderRate) ? this.rng.int(this.flights.length) : 0;
    const f = this.flights[i]!;
    const dup = this.rng.chance(dupRate);
    if (!dup) this.flights.splice(i, 1);
    const m = f.m;
    const to = this.nodes.get(m.to);
    const from = this.nodes.get(m.from);
    const lost = !to || !to.alive || this.blocked.has(`${m.from}>${m.to}`) || this.rng.chance(dropRate);
    if (lost) {
      if (m.type === MessageType.Snap && from?.alive) from.core.reportSnapshot(m.to, false);
      return;
    }
    to.core.step(m);
    if (m.type === MessageType.Snap && from?.alive) from.core.reportSnapshot(m.to, true);
  }

  private pipelineDepth(): number {
    return this.opts.pipelineDepth ?? SIM_PIPELINE_DEPTH;
  }

  /**
   * A node with work: take another Ready (room in the pipeline), or move the oldest one on. A Ready
   * taken with nothing in flight is usually written (and 60% of the time fsynced) in the same step,
   * as an unpipelined host does, so runs make as much progress per step as without pipelining;
   * otherwise it stays queued and later steps may take more Readies behind it.
   */
  private processReady(n: SimNode): void {
    const canTake = n.core.hasReady() && n.pipeline.length < this.pipelineDepth();
    if (n.pipeline.length > 0 && (!canTake || this.rng.chance(0.5))) {
      this.persistHead(n, this.rng.chance(0.6));
    } else if (canTake) {
      const idle = n.pipeline.length === 0;
      this.takeReady(n);
      if (idle && this.rng.chance(0.7)) this.persistHead(n, this.rng.chance(0.6));
    }
  }

  private propose(): void {
    const l = this.leader();
    if (!l) return;
    if (this.rng.chance(0.15)) {
      // Through a follower (forwarding), not tracked: the proposer is not the leader.
      const f = this.rng.pick(this.alive());
      if (f && f !== l) {
        try {
          f.core.propose(enc.encode(`f${this.payloadSeq++}`));
        } catch (err) {
          if (!isProposalDropped(err)) throw err;
        }
      }
      return;
    }
    const p = `p${this.payloadSeq++}`;
    try {
      l.core.propose(enc.encode(p));
      l.waiting.set(p, l.core.term);
      this.proposed++;
    } catch (err) {
      if (!isProposalDropped(err)) throw err;
    }
  }

  private read(): void {
    const n = this.rng.pick(this.alive());
    if (!n) return;
    const ctx = `r${this.readSeq++}`;
    try {
      n.core.readIndex(enc.encode(ctx));
      n.reads.set(ctx, { mustSee: [...this.acked], index: 0 });
    } catch (err) {
      if (!isProposalDropped(err)) throw err;
    }
  }

  private crashOrRestart(): void {
    const down = [...this.nodes.values()].filter((n) => !n.alive);
    const up = this.alive();
    if (down.length > 0 && (this.rng.chance(0.6) || up.length <= 2)) {
      const n = this.rng.pick(down)!;
      n.alive = true;
      n.start();
      this.trace(`restart ${n.id}`);
    } else if (up.length > 0) {
      const n = this.rng.pick(up)!;
      n.crash();
      this.crashes++;
      this.trace(`crash ${n.id}${n.disk.hasUnsynced() ? ' (losing unsynced writes)' : ''}`);
    }
  }

  private repartition(): void {
    this.blocked.clear();
    if (this.rng.chance(0.35)) {
      this.trace('heal');
      return;
    }
    const ids = [...this.nodes.keys()];
    const side = new Set(ids.filter(() => this.rng.chance(0.4)));
    const oneWay = this.rng.chance(0.2);
    for (const a of ids) for (const b of ids) {
      if (side.has(a) !== side.has(b) && (!oneWay || side.has(a))) this.blocked.add(`${a}>${b}`);
    }
    this.trace(`partition {${[...side].join(',')}}${oneWay ? ' one-way' : ''}`);
  }

  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    const cs = l.core.status().config;
    let cc: ConfChange | undefined;
    const r = this.rng.next();
    const maxNodes = this.opts.maxNodes ?? 6;
    if (cs.learners.length > 0 && r < 0.4) {
      cc = { type: ConfChangeType.AddNode, nodeId: this.rng.pick(cs.learners)!, context: new Uint8Array() };
    } else if (cs.voters.length + cs.learners.length < maxNodes && r < 0.75) {
      const id = `n${this.nextNodeId++}`;
      this.nodes.set(id, new SimNode(id, new MemoryStorage(), this));
      cc = { type: ConfChangeType.AddLearner, nodeId: id, context: new Uint8Array() };
    } else if (cs.voters.length > 3) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.rng.pick(cs.voters)!, context: new Uint8Array() };
    }
    if (!cc) return;
    try {
      l.core.proposeConfChange(cc);
      this.trace(`propose ${cc.type} ${cc.nodeId} on ${l.id}`);
    } catch (err) {
      if (!isProposalDropped(err)) throw err;
    }
  }

  private snapshot(n: SimNode): void {
    if (n.pipeline.length > 0 || n.appliedIndex - n.disk.volatile.snapshot().metadata.index < 8) return;
    const data = enc.encode(JSON.stringify(n.payloads));
    if (n.disk.snapshotAndCompact(n.appliedIndex, n.core.status().config, data, 2)) this.trace(`${n.id} snapshot at ${n.appliedIndex}`);
  }

  private check(): void {
    this.inv.checkLeaders(this.alive().map((n) => ({ id: n.id, core: n.core, incarnation: n.incarnation })));
    for (const n of this.alive()) if (n.core.state === StateType.Leader) this.leaderTerms.add(n.core.term);
  }

  private tickAll(): void {
    for (const n of this.alive()) n.core.tick();
  }

  /** One randomized step. */
  private randomStep(): void {
    const o = this.opts;
    const r = this.rng.next();
    if (r < 0.5) {
      this.deliverOne(o.dropRate ?? 0.05, o.dupRate ?? 0.02, o.reorderRate ?? 0.1);
    } else if (r < 0.78) {
      const busy = this.alive().filter((n) => n.pipeline.length > 0 || n.core.hasReady());
      const n = this.rng.pick(busy);
      if (n) this.processReady(n);
    } else if (r < 0.86) {
      this.tickAll();
    } else if (r < 0.93) {
      this.propose();
    } else if (r < 0.95) {
      this.read();
    } else if (r < 0.96) {
      const n = this.rng.pick(this.alive());
      if (n) this.snapshot(n);
    } else {
      const x = this.rng.next();
      if (x < (o.crashRate ?? 0.2)) this.crashOrRestart();
      else if (x < (o.crashRate ?? 0.2) + (o.partitionRate ?? 0.25)) this.repartition();
      else if (x < (o.crashRate ?? 0.2) + (o.partitionRate ?? 0.25) + (o.confChangeRate ?? 0.15)) this.changeMembership();
    }
  }

  /** Heal everything, restart the dead, and run until all members hold every acknowledged write. */
  private settle(): void {
    this.blocked.clear();
    for (const n of this.nodes.values()) {
      if (!n.alive) {
        n.alive = true;
        n.start();
      }
    }
    this.trace('final heal');
    for (let round = 0; round < 400; round++) {
      for (let k = 0; k < 200 && (this.flights.length > 0 || this.alive().some((n) => n.pipeline.length > 0 || n.core.hasReady())); k++) {
        while (this.flights.length > 0) {
          this.deliverOne(0, 0, 0);
          this.check();
        }
        for (const n of this.alive()) {
          while (n.pipeline.length > 0 || n.core.hasReady()) {
            this.processReady(n);
            this.check();
          }
        }
      }
      const l = this.leader();
      if (l && round > 3 && this.caughtUp(l)) return;
      this.tickAll();
      this.check();
    }
    const l = this.leader();
    if (!l) throw new InvariantViolation('liveness', 'no leader was elected after healing every fault');
    this.caughtUp(l, true);
  }

  /** Every acked write is on the leader and on every member; with `strict`, say which is missing. */
  private caughtUp(l: SimNode, strict = false): boolean {
    for (const p of this.acked) {
      if (!l.payloadSet.has(p)) {
        if (strict || l.appliedIndex >= l.core.raftLog.committed) {
          throw new InvariantViolation('no acknowledged write lost', `leader ${l.id} (term ${l.core.term}) applied everything committed but lacks acknowledged ${p}`);
        }
        return false;
      }
    }
    const cs = l.core.status().config;
    for (const id of [...cs.voters, ...cs.learners]) {
      const n = this.nodes.get(id);
      if (!n) continue;
      for (const p of this.acked) {
        if (!n.payloadSet.has(p)) {
          if (strict) throw new InvariantViolation('no acknowledged write lost', `member ${id} never applied acknowledged ${p} after healing`);
          return false;
        }
      }
    }
    return true;
  }

  run(): SimResult {
    const steps = this.opts.steps ?? 600;
    try {
      for (this.step = 0; this.step < steps; this.step++) {
        this.randomStep();
        this.check();
      }
      this.settle();
    } catch (err) {
      if (!(err instanceof InvariantViolation)) {
        // A crash of the core or the host is a failure too: report it with the seed.
        const e = err as Error;
        return this.result(false, `exception: ${e.stack ?? String(e)}`);
      }
      return this.result(false, err.message);
    }
    return this.result(true);
  }

  private result(ok: boolean, violation?: string): SimResult {
    const r: SimResult = {
      seed: this.opts.seed,
      ok,
      acked: this.acked.length,
      proposed: this.proposed,
      reads: this.readsServed,
      leadersElected: this.leaderTerms.size,
      crashes: this.crashes,
      steps: this.step,
    };
    if (violation !== undefined) r.violation = violation;
    return r;
  }
}

/** Run one seed. */
export function simulate(opts: SimOptions): SimResult {
  return new Simulator(opts).run();
}

/** Run seeds [from, from+count) and return the failures (each prints as `seed=N`). */
export function simulateSeeds(from: number, count: number, base: Omit<SimOptions, 'seed'> = {}): { failures: SimResult[]; results: SimResult[] } {
  const failures: SimResult[] = [];
  const results: SimResult[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const r = simulate({ ...base, seed });
    results.push(r);
    if (!r.ok) failures.push(r);
  }
  return { failures, results };
}

/**
 * Named option sets. `figure8` is a high-churn profile (no pre-vote or check-quorum, one entry per
 * append, tiny election timeouts, frequent partitions) in which the Figure 8 commit bug surfaces.
 */
export const SIM_PROFILES: Record<string, Omit<SimOptions, 'seed'>> = {
  default: {},
  figure8: {
    preVote: false,
    checkQuorum: false,
    maxSizePerMsg: 1,
    nodes: 3,
    electionTick: 2,
    dropRate: 0.3,
    reorderRate: 0.3,
    steps: 1500,
    partitionRate: 0.6,
    crashRate: 0.3,
  },
};

/** Run seeds from `from` on until the first failure or `count` seeds; returns it (or undefined). */
export function firstFailure(from: number, count: number, base: Omit<SimOptions, 'seed'> = {}): SimResult | undefined {
  for (let seed = from; seed < from + count; seed++) {
    const r = simulate({ ...base, seed });
    if (!r.ok) return r;
  }
  return undefined;
}
