// What the leader knows about each member's log, and the flow control that
// bounds how much it sends ahead (etcd's tracker.Progress and Inflights).

import type { ConfState, NodeId } from './types.js';

export const ProgressState = {
  /** Send one append per heartbeat interval until the follower's match is found. */
  Probe: 'Probe',
  /** Stream appends optimistically, bounded by the inflight window. */
  Replicate: 'Replicate',
  /** A snapshot is on its way; send nothing until it is reported. */
  Snapshot: 'Snapshot',
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A sliding window of unacknowledged appends, bounded by count and bytes. */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private bytes = 0;

  constructor(readonly maxCount: number, readonly maxBytes: number) {}

  add(index: number, bytes: number): void {
    this.items.push({ index, bytes });
    this.bytes += bytes;
  }

  /** Release every append whose last index is ≤ to. */
  freeLE(to: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n]!.index <= to) {
      this.bytes -= this.items[n]!.bytes;
      n++;
    }
    if (n > 0) this.items.splice(0, n);
  }

  /** Drop the oldest append (its ack was likely lost) so a stalled window reopens. */
  freeFirstOne(): void {
    const first = this.items[0];
    if (first) this.freeLE(first.index);
  }

  full(): boolean {
    return this.items.length >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  count(): number {
    return this.items.length;
  }

  reset(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from within the last election timeout (check-quorum). */
  recentActive = false;
  /** In Probe state: an append is outstanding, wait for a response or heartbeat. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(next: number, public isLearner: boolean, maxInflight: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Account for an append just sent: `count` entries ending at `lastIndex`, `bytes` of data. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      if (count > 0) this.msgAppFlowPaused = true;
    }
  }

  /** A successful append response up to n. Returns true if match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejected append at `rejected`; `matchHint` is the follower's guess of
   * the last index that may match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}

/** The membership plus per-member progress and votes (a single majority config). */
export class ProgressTracker {
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number, readonly maxInflightBytes: number) {}

  voters(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, pr] of this.progress) if (!pr.isLearner) out.push(id);
    return out.sort();
  }

  learners(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, pr] of this.progress) if (pr.isLearner) out.push(id);
    return out.sort();
  }

  confState(): ConfState {
    return { voters: this.voters(), learners: this.learners() };
  }

  isVoter(id: NodeId): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && !pr.isLearner;
  }

  quorum(): number {
    return Math.floor(this.voters().length / 2) + 1;
  }

  /** The largest index a majority of voters have matched. */
  committed(): number {
    const matches = this.voters().map((id) => this.progress.get(id)!.match).sort((a, b) => b - a);
    if (matches.length === 0) return 0;
    return matches[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** 'won' when a majority granted, 'lost' when a majority can no longer grant, else 'pending'. */
  tallyVotes(): { granted: number; rejected: number; result: 'won' | 'lost' | 'pending' } {
    let granted = 0;
    let rejected = 0;
    const voters = this.voters();
    for (const id of voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = Math.floor(voters.length / 2) + 1;
    if (granted >= q) return { granted, rejected, result: 'won' };
    if (voters.length - rejected < q) return { granted, rejected, result: 'lost' };
    return { granted, rejected, result: 'pending' };
  }

  /** True when a majority of voters (self included) were recently active. */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    const voters = this.voters();
    for (const id of voters) {
      if (id === self || this.progress.get(id)!.recentActive) active++;
    }
    return active >= Math.floor(voters.length / 2) + 1;
  }
}
