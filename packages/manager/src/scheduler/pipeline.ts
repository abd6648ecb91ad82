// Runs a task's applicable filters over nodes, stopping at a node's first
// failing filter and counting failures per filter, so that when nothing fits
// the explanation says how many nodes failed for which reason.
import type { Task__Output } from '@shoal/api';
import { defaultFilters } from './filters.js';
import type { Filter } from './filters.js';
import type { NodeInfo } from './node-info.js';

interface Entry {
  readonly filter: Filter;
  failures: number;
}

export class Pipeline {
  readonly #all: readonly Filter[];
  #active: Entry[] = [];

  constructor(filters: readonly Filter[] = defaultFilters()) {
    this.#all = filters;
  }

  /** Binds a task: keeps the filters that apply to it, with zeroed counts. */
  setTask(task: Task__Output): void {
    this.#active = [];
    for (const f of this.#all) if (f.setTask(task)) this.#active.push({ filter: f, failures: 0 });
  }

  /** Whether the bound task may run on `node`; counts the first failing filter. */
  process(node: NodeInfo): boolean {
    for (const e of this.#active) {
      if (!e.filter.check(node)) {
        e.failures++;
        return false;
      }
    }
    return true;
  }

  /** Zeroes the failure counts (before a fresh pass over every node). */
  resetCounts(): void {
    for (const e of this.#active) {
      e.failures = 0;
      e.filter.resetCounts?.();
    }
  }

  /** Failures per filter name since the task was bound or the counts reset. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.#active) if (e.failures > 0) out[e.filter.name] = e.failures;
    return out;
  }

  /**
   * The failures as one sentence, most common reason first:
   * "insufficient memory on 3 nodes; 2 nodes not available". Empty when
   * nothing failed.
   */
  explain(): string {
    return this.#active
      .filter((e) => e.failures > 0)
      .sort((a, b) => b.failures - a.failures)
      .map((e) => e.filter.explain(e.failures))
      .join('; ');
  }
}
