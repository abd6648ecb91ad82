// The safety properties the simulator checks after every step. Each check
// throws an InvariantViolation naming the property; the simulator adds the seed.

import type { RaftCore } from '../core/raft-core.js';
import type { Entry, NodeId } from '../core/types.js';
import { StateType } from '../core/types.js';

export class InvariantViolation extends Error {
  constructor(readonly invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** A short identity for an entry's content. */
export function entryKey(e: Entry): string {
  let s = `${e.type}:`;
  for (const b of e.data) s += String.fromCharCode(b);
  return s;
}

interface LeaderMark {
  term: number;
  lastIndex: number;
  lastTerm: number;
  incarnation: number;
}

export class Invariants {
  /** term -> the leader of that term. */
  private readonly leaders = new Map<number, NodeId>();
  /** "index:term" -> content key and the term of the previous entry (log matching). */
  private readonly written = new Map<string, { key: string; prevTerm: number }>();
  /** index -> term and content of the committed entry there. */
  readonly committed = new Map<number, { term: number; key: string }>();
  maxCommitted = 0;
  private readonly leaderMarks = new Map<NodeId, LeaderMark>();

  /** Election safety, leader append-only and leader completeness, for every live node. */
  checkLeaders(nodes: { id: NodeId; core: RaftCore; incarnation: number }[]): void {
    for (const n of nodes) {
      const c = n.core;
      if (c.state !== StateType.Leader) {
        this.leaderMarks.delete(n.id);
        continue;
      }
      const other = this.leaders.get(c.term);
      if (other === undefined) this.leaders.set(c.term, n.id);
      else if (other !== n.id) throw new InvariantViolation('election safety', `both ${other} and ${n.id} were leaders in term ${c.term}`);
      const log = c.raftLog;
      const last = log.lastIndex();
      const mark = this.leaderMarks.get(n.id);
      if (mark && mark.term === c.term && mark.incarnation === n.incarnation) {
        if (last < mark.lastIndex || log.termOrZero(mark.lastIndex) !== mark.lastTerm) {
          throw new InvariantViolation('leader append-only', `leader ${n.id} of term ${c.term} rewrote its log at or before index ${mark.lastIndex}`);
        }
      } else {
        this.checkCompleteness(n.id, c);
      }
      this.leaderMarks.set(n.id, { term: c.term, lastIndex: last, lastTerm: log.termOrZero(last), incarnation: n.incarnation });
    }
  }

  /** Leader completeness: a new leader holds every entry committed so far. */
  private checkCompleteness(id: NodeId, c: RaftCore): void {
    const log = c.raftLog;
    if (log.lastIndex() < this.maxCommitted) {
      throw new InvariantViolation('leader completeness', `leader ${id} of term ${c.term} has last index ${log.lastIndex()} but ${this.maxCommitted} is committed`);
    }
    const first = log.firstIndex();
    for (const [i, ce] of this.committed) {
      if (i < first) continue;
      const t = log.termOrZero(i);
      if (t !== ce.term) {
        throw new InvariantViolation('leader completeness', `leader ${id} of term ${c.term} has term ${t} at committed index ${i} (committed term ${ce.term})`);
      }
    }
  }

  /** Log matching: an (index, term) pair always names the same entry with the same predecessor term. */
  checkWritten(id: NodeId, e: Entry, prevTerm: number): void {
    const k = `${e.index}:${e.term}`;
    const key = entryKey(e);
    const seen = this.written.get(k);
    if (!seen) {
      this.written.set(k, { key, prevTerm });
      return;
    }
    if (seen.prevTerm < 0 && prevTerm >= 0) seen.prevTerm = prevTerm;
    // prevTerm < 0: the predecessor was compacted away on that node, nothing to compare.
    if (seen.key !== key || (prevTerm >= 0 && seen.prevTerm >= 0 && seen.prevTerm !== prevTerm)) {
      throw new InvariantViolation('log matching', `node ${id} wrote a different entry at index ${e.index} term ${e.term}`);
    }
  }

  /** State machine safety: every node commits (and applies) the same entry at each index. */
  checkCommitted(id: NodeId, e: Entry): void {
    const key = entryKey(e);
    const seen = this.committed.get(e.index);
    if (!seen) {
      this.committed.set(e.index, { term: e.term, key });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      return;
    }
    if (seen.term !== e.term || seen.key !== key) {
      throw new InvariantViolation('state machine safety', `node ${id} committed term ${e.term} at index ${e.index}, where term ${seen.term} was committed before`);
    }
  }
}
