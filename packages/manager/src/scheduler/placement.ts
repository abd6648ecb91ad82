// Places the tasks of one group (same service, same spec) on the nodes that
// passed the filters. With placement preferences the nodes are split into a
// tree by the value of each spread label (swarmkit's decision tree); each
// task goes down the branches holding the fewest of the service's tasks,
// and in the leaf to the best-scored node, kept in a heap so that a task
// costs O(log nodes) rather than a sort of every node.
import type { PlacementPreference__Output, Task__Output } from '@shoal/api';
import { parseSpreadDescriptor, spreadValue } from '../constraint/index.js';
import type { SpreadKey } from '../constraint/index.js';
import type { NodeInfo } from './node-info.js';
import type { Pipeline } from './pipeline.js';
import type { Scorer } from './scorers.js';

interface HeapEntry {
  readonly info: NodeInfo;
  scores: number[];
  /** Took a task in this group since it last passed the filters. */
  changed: boolean;
}

function less(a: HeapEntry, b: HeapEntry): boolean {
  const n = a.scores.length;
  for (let i = 0; i < n; i++) {
    const x = a.scores[i] as number;
    const y = b.scores[i] as number;
    if (x !== y) return x < y;
  }
  return a.info.id < b.info.id;
}

/** A binary min-heap of nodes ordered by their scores. */
export class NodeHeap {
  readonly #a: HeapEntry[] = [];

  get size(): number {
    return this.#a.length;
  }

  push(e: HeapEntry): void {
    this.#a.push(e);
    this.#up(this.#a.length - 1);
  }

  peek(): HeapEntry | undefined {
    return this.#a[0];
  }

  pop(): HeapEntry | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      this.#down(0);
    }
    return top;
  }

  /** Restores the order after the top entry's scores changed. */
  fixTop(): void {
    this.#down(0);
  }

  #up(i: number): void {
    const a = this.#a;
    const e = a[i] as HeapEntry;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = a[p] as HeapEntry;
      if (!less(e, pe)) break;
      a[i] = pe;
      i = p;
    }
    a[i] = e;
  }

  #down(i: number): void {
    const a = this.#a;
    const n = a.length;
    if (n === 0) return;
    const e = a[i] as HeapEntry;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && less(a[r] as HeapEntry, a[l] as HeapEntry)) c = r;
      const ce = a[c] as HeapEntry;
      if (!less(ce, e)) break;
      a[i] = ce;
      i = c;
    }
    a[i] = e;
  }
}

interface Branch {
  /** The spread value this branch stands for ("" = nodes without the label). */
  readonly value: string;
  /** The group's service's tasks on this branch's nodes. */
  tasks: number;
  /** No node below can take another task of this group. */
  full: boolean;
  readonly children: Map<string, Branch> | null;
  readonly heap: NodeHeap | null;
}

const newBranch = (value: string, leaf: boolean): Branch => ({
  value,
  tasks: 0,
  full: false,
  children: leaf ? null : new Map(),
  heap: leaf ? new NodeHeap() : null,
});

/** The spread keys of a task's preferences; unknown descriptors spread nothing. */
export function spreadKeys(prefs: readonly PlacementPreference__Output[]): SpreadKey[] {
  const keys: SpreadKey[] = [];
  for (const p of prefs) {
    const d = p.spread?.spread_descriptor;
    if (!d) continue;
    try {
      keys.push(parseSpreadDescriptor(d));
    } catch {
      // The control API refuses these; a stored one just does not split.
    }
  }
  return keys;
}

export class GroupPlacer {
  readonly #pipeline: Pipeline;
  readonly #scorers: readonly Scorer[];
  readonly #serviceId: string;
  readonly #root: Branch;
  /** The branches from the root to the leaf of the node last picked. */
  #path: Branch[] = [];
  #picked: HeapEntry | undefined;

  /**
   * Builds the tree from `candidates`, keeping the nodes that pass the
   * pipeline (already bound to the group's task) — those counts are what
   * explains a failure if the tree turns out empty.
   */
  constructor(pipeline: Pipeline, scorers: readonly Scorer[], task: Task__Output, candidates: Iterable<NodeInfo>) {
    this.#pipeline = pipeline;
    this.#scorers = scorers;
    this.#serviceId = task.service_id;
    const keys = spreadKeys(task.spec?.placement?.preferences ?? []);
    this.#root = newBranch('', keys.length === 0);
    for (const info of candidates) {
      if (!info.node || !pipeline.process(info)) continue;
      const own = info.serviceTasks(this.#serviceId);
      let b = this.#root;
      b.tasks += own;
      for (let level = 0; level < keys.length; level++) {
        const value = spreadValue(keys[level] as SpreadKey, info.node);
        const children = b.children as Map<string, Branch>;
        let child = children.get(value);
        if (!child) {
          child = newBranch(value, level === keys.length - 1);
          children.set(value, child);
        }
        child.tasks += own;
        b = child;
      }
      (b.heap as NodeHeap).push({ info, scores: this.#score(info), changed: false });
    }
  }

  /** The node for the next task of the group, or undefined when no node can take one. */
  pick(): NodeInfo | undefined {
    this.#path = [];
    this.#picked = this.#descend(this.#root);
    return this.#picked?.info;
  }

  /** Records that the task was added to the node `pick` returned. */
  placed(): void {
    const e = this.#picked;
    if (!e) return;
    for (const b of this.#path) b.tasks++;
    e.scores = this.#score(e.info);
    e.changed = true;
    const leaf = this.#path[this.#path.length - 1];
    leaf?.heap?.fixTop();
    this.#picked = undefined;
  }

  #score(info: NodeInfo): number[] {
    const s = this.#scorers;
    const out = new Array<number>(s.length);
    for (let i = 0; i < s.length; i++) out[i] = (s[i] as Scorer).score(info);
    return out;
  }

  #descend(b: Branch): HeapEntry | undefined {
    if (b.full) return undefined;
    this.#path.push(b);
    if (b.heap) {
      const e = this.#leafPick(b.heap);
      if (!e) {
        b.full = true;
        this.#path.pop();
      }
      return e;
    }
    const children = b.children as Map<string, Branch>;
    for (;;) {
      let best: Branch | undefined;
      for (const c of children.values()) {
        if (c.full) continue;
        if (!best || c.tasks < best.tasks || (c.tasks === best.tasks && c.value < best.value)) best = c;
      }
      if (!best) {
        b.full = true;
        this.#path.pop();
        return undefined;
      }
      const e = this.#descend(best);
      if (e) return e;
    }
  }

  #leafPick(heap: NodeHeap): HeapEntry | undefined {
    for (;;) {
      const top = heap.peek();
      if (!top) return undefined;
      // Only what this group placed can have changed a node's fit (its
      // resources, ports, replicas): the other filters passed already.
      if (!top.changed) return top;
      if (this.#pipeline.process(top.info)) {
        top.changed = false;
        return top;
      }
      heap.pop();
    }
  }
}
