// The scheduler's filters. Each binds a task (setTask says whether it applies
// to that task at all), checks one node at a time, and explains N failures in
// a sentence fragment for "no suitable node (…)". They run cheapest first.
import { errorMessage } from '@shoal/api';
import type { Platform__Output, Task__Output } from '@shoal/api';
import { nodeMatches, parseConstraints } from '../constraint/index.js';
import type { Constraint } from '../constraint/index.js';
import type { NodeInfo } from './node-info.js';
import { hostPorts, reservations } from './task-state.js';

export interface Filter {
  /** A stable name for logs and tests. */
  readonly name: string;
  /** Binds `task`; false when the filter does not apply to it (then `check` is not called). */
  setTask(task: Task__Output): boolean;
  /** Whether the bound task may run on `node`. */
  check(node: NodeInfo): boolean;
  /** Why `failures` nodes failed, e.g. "insufficient memory on 3 nodes". */
  explain(failures: number): string;
  /** Forgets any failure detail kept for `explain` (the pipeline reset its counts). */
  resetCounts?(): void;
}

export const nodes = (n: number): string => `${n} node${n === 1 ? '' : 's'}`;

/** The node is up and talking to the managers. */
export class ReadyFilter implements Filter {
  readonly name = 'ready';
  setTask(): boolean {
    return true;
  }
  check(n: NodeInfo): boolean {
    return n.node?.status?.state === 'READY';
  }
  explain(failures: number): string {
    return `${nodes(failures)} not ready`;
  }
}

/** The node takes new tasks: neither paused nor drained (nor awaiting acceptance). */
export class AvailabilityFilter implements Filter {
  readonly name = 'availability';
  setTask(): boolean {
    return true;
  }
  check(n: NodeInfo): boolean {
    const spec = n.node?.spec;
    return (spec?.availability ?? 'ACTIVE') === 'ACTIVE' && (spec?.membership ?? 'ACCEPTED') === 'ACCEPTED';
  }
  explain(failures: number): string {
    return `${nodes(failures)} not available`;
  }
}

/** The node's unreserved CPU and memory cover the task's reservations. */
export class ResourceFilter implements Filter {
  readonly name = 'resources';
  #cpu = 0;
  #memory = 0;
  #shortCpu = 0;
  #shortMemory = 0;

  setTask(t: Task__Output): boolean {
    const r = reservations(t);
    this.#cpu = r.cpu;
    this.#memory = r.memory;
    this.#shortCpu = 0;
    this.#shortMemory = 0;
    return r.cpu > 0 || r.memory > 0;
  }
  check(n: NodeInfo): boolean {
    const cpuOk = this.#cpu <= n.availableCpu;
    const memOk = this.#memory <= n.availableMemory;
    if (!cpuOk) this.#shortCpu++;
    if (!memOk) this.#shortMemory++;
    return cpuOk && memOk;
  }
  /** Says which resource was short; `failures` bounds the counts (they may include re-checks). */
  explain(failures: number): string {
    const parts: string[] = [];
    const cpu = Math.min(this.#shortCpu, failures);
    const mem = Math.min(this.#shortMemory, failures);
    if (mem > 0) parts.push(`insufficient memory on ${nodes(mem)}`);
    if (cpu > 0) parts.push(`insufficient CPU on ${nodes(cpu)}`);
    return parts.length > 0 ? parts.join(', ') : `insufficient resources on ${nodes(failures)}`;
  }
  resetCounts(): void {
    this.#shortCpu = 0;
    this.#shortMemory = 0;
  }
}

/** The node satisfies the task's placement constraints. */
export class ConstraintFilter implements Filter {
  readonly name = 'constraints';
  #constraints: Constraint[] = [];
  #invalid: string | undefined;

  setTask(t: Task__Output): boolean {
    const exprs = t.spec?.placement?.constraints ?? [];
    this.#invalid = undefined;
    if (exprs.length === 0) return false;
    try {
      this.#constraints = parseConstraints(exprs);
    } catch (err) {
      // The control API refuses bad constraints, so this is a task written
      // around it; no node can be said to satisfy it.
      this.#constraints = [];
      this.#invalid = errorMessage(err);
    }
    return true;
  }
  check(n: NodeInfo): boolean {
    if (this.#invalid !== undefined || !n.node) return false;
    return nodeMatches(this.#constraints, n.node);
  }
  explain(failures: number): string {
    if (this.#invalid !== undefined) return `invalid placement constraints: ${this.#invalid}`;
    return `scheduling constraints not satisfied on ${nodes(failures)}`;
  }
}

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  x86: '386',
  i386: '386',
  i686: '386',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  armv7l: 'arm',
};

const normArch = (a: string): string => {
  const lower = a.toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
};

/** The node's OS and architecture are among the task's platforms (when it names any). */
export class PlatformFilter implements Filter {
  readonly name = 'platform';
  #platforms: Platform__Output[] = [];

  setTask(t: Task__Output): boolean {
    this.#platforms = t.spec?.placement?.platforms ?? [];
    return this.#platforms.length > 0;
  }
  check(n: NodeInfo): boolean {
    const have = n.node?.description?.platform;
    const os = (have?.os ?? '').toLowerCase();
    const arch = normArch(have?.architecture ?? '');
    return this.#platforms.some(
      (p) => (p.os === '' || p.os.toLowerCase() === os) && (p.architecture === '' || normArch(p.architecture) === arch),
    );
  }
  explain(failures: number): string {
    return `unsupported platform on ${nodes(failures)}`;
  }
}

/** None of the task's host-mode published ports is already taken on the node. */
export class HostPortFilter implements Filter {
  readonly name = 'host-ports';
  #ports: string[] = [];

  setTask(t: Task__Output): boolean {
    this.#ports = hostPorts(t);
    return this.#ports.length > 0;
  }
  check(n: NodeInfo): boolean {
    for (const p of this.#ports) if (n.portInUse(p)) return false;
    return true;
  }
  explain(failures: number): string {
    return `host-mode port already in use on ${nodes(failures)}`;
  }
}

/** The node runs fewer of the service's tasks than its max replicas per node. */
export class MaxReplicasFilter implements Filter {
  readonly name = 'max-replicas';
  #max = 0;
  #service = '';

  setTask(t: Task__Output): boolean {
    this.#max = Number(t.spec?.placement?.max_replicas ?? 0);
    this.#service = t.service_id;
    return this.#max > 0;
  }
  check(n: NodeInfo): boolean {
    return n.serviceTasks(this.#service) < this.#max;
  }
  explain(failures: number): string {
    return `max replicas per node reached on ${nodes(failures)}`;
  }
}

/** The filters in the order they run: cheapest first. */
export function defaultFilters(): Filter[] {
  return [
    new ReadyFilter(),
    new AvailabilityFilter(),
    new ResourceFilter(),
    new MaxReplicasFilter(),
    new HostPortFilter(),
    new PlatformFilter(),
    new ConstraintFilter(),
  ];
}
