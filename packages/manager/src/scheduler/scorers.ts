// Scorers rank the nodes that passed the filters; lower is better, and nodes
// compare by the scorers' scores in order (then by id, so that equal nodes
// are taken in a stable order). Each score depends only on its own node, so
// after a task lands on a node only that node is scored again.
import type { Task__Output } from '@shoal/api';
import type { NodeInfo } from './node-info.js';

export interface Scorer {
  readonly name: string;
  /** Binds the task being placed (and the time, for windows). */
  setTask(task: Task__Output, now: number): void;
  /** The node's score for the bound task; lower is better. */
  score(node: NodeInfo): number;
}

/** A service's tasks failing this often on a node within the window sends new ones elsewhere first. */
export const MAX_RECENT_FAILURES = 5;

/** Pushes a service's tasks away from a node where they keep failing (swarmkit's down-weighting). */
export class FailureScorer implements Scorer {
  readonly name = 'recent-failures';
  #service = '';
  #now = 0;
  setTask(t: Task__Output, now: number): void {
    this.#service = t.service_id;
    this.#now = now;
  }
  score(n: NodeInfo): number {
    const f = n.recentFailures(this.#service, this.#now);
    return f >= MAX_RECENT_FAILURES ? f : 0;
  }
}

/** Spread by service: the fewest tasks of the task's service first. */
export class ServiceSpreadScorer implements Scorer {
  readonly name = 'service-tasks';
  #service = '';
  setTask(t: Task__Output): void {
    this.#service = t.service_id;
  }
  score(n: NodeInfo): number {
    return n.serviceTasks(this.#service);
  }
}

/** Then the fewest tasks overall. */
export class TotalTasksScorer implements Scorer {
  readonly name = 'total-tasks';
  setTask(): void {}
  score(n: NodeInfo): number {
    return n.activeTasks;
  }
}

export function defaultScorers(): Scorer[] {
  return [new FailureScorer(), new ServiceSpreadScorer(), new TotalTasksScorer()];
}

/** A node's scores, by scorer, as recorded when it was ranked. */
export interface ScoreCard {
  readonly nodeId: string;
  readonly scores: Readonly<Record<string, number>>;
}

export function scoreCard(scorers: readonly Scorer[], node: NodeInfo, values?: readonly number[]): ScoreCard {
  const scores: Record<string, number> = {};
  scorers.forEach((s, i) => (scores[s.name] = values?.[i] ?? s.score(node)));
  return { nodeId: node.id, scores };
}
