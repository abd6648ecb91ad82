// Why a task would go where it would: every node with the first filter it
// fails, or, for the nodes that pass, each scorer's score and, per placement
// preference, how many of the service's tasks its group already holds.
import type { Task__Output } from '@shoal/api';
import { spreadValue } from '../constraint/index.js';
import { defaultFilters } from './filters.js';
import type { Filter } from './filters.js';
import type { NodeInfo } from './node-info.js';
import { spreadKeys } from './placement.js';
import { defaultScorers } from './scorers.js';
import type { Scorer } from './scorers.js';

export interface NodeRank {
  readonly nodeId: string;
  /** The first filter the node fails (then it has no scores). */
  readonly failed?: string;
  /** The filter's sentence for this one node, e.g. "insufficient memory on 1 node". */
  readonly reason?: string;
  /** Lower is better, compared in order: preferences first, then the scorers. */
  readonly scores: Readonly<Record<string, number>>;
}

/**
 * Ranks `nodes` for `task` as a scheduling pass would for its first task:
 * the nodes that pass every filter first, best first, then the others by id.
 */
export function rankNodes(
  task: Task__Output,
  nodes: Iterable<NodeInfo>,
  now: number,
  filters: readonly Filter[] = defaultFilters(),
  scorers: readonly Scorer[] = defaultScorers(),
): NodeRank[] {
  const active = filters.filter((f) => f.setTask(task));
  for (const s of scorers) s.setTask(task, now);
  const keys = spreadKeys(task.spec?.placement?.preferences ?? []);
  const passing: Array<{ info: NodeInfo; groups: string[] }> = [];
  const failed: NodeRank[] = [];
  for (const info of nodes) {
    if (!info.node) continue;
    const f = active.find((x) => {
      x.resetCounts?.();
      return !x.check(info);
    });
    if (f) {
      failed.push({ nodeId: info.id, failed: f.name, reason: f.explain(1), scores: {} });
      continue;
    }
    const node = info.node;
    // A group is named by the values on the path to it.
    const values = keys.map((k) => spreadValue(k, node));
    passing.push({ info, groups: keys.map((_, level) => values.slice(0, level + 1).join('\u0000')) });
  }
  // Tasks of the service per preference group, at each level.
  const perGroup = keys.map(() => new Map<string, number>());
  for (const p of passing) {
    const own = p.info.serviceTasks(task.service_id);
    p.groups.forEach((g, level) => perGroup[level]?.set(g, (perGroup[level]?.get(g) ?? 0) + own));
  }
  const ranked = passing.map((p) => {
    const scores: Record<string, number> = {};
    const order: number[] = [];
    keys.forEach((k, level) => {
      const v = perGroup[level]?.get(p.groups[level] ?? '') ?? 0;
      scores[`spread=${k.kind}.${k.label}`] = v;
      order.push(v);
    });
    for (const s of scorers) {
      const v = s.score(p.info);
      scores[s.name] = v;
      order.push(v);
    }
    return { rank: { nodeId: p.info.id, scores }, order };
  });
  ranked.sort((a, b) => {
    for (let i = 0; i < a.order.length; i++) {
      const d = (a.order[i] as number) - (b.order[i] as number);
      if (d !== 0) return d;
    }
    return a.rank.nodeId < b.rank.nodeId ? -1 : 1;
  });
  failed.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  return [...ranked.map((r) => r.rank), ...failed];
}
