// What the scheduler knows about one node: the node object and the tasks that
// hold its resources, kept up to date from store events so that no decision
// needs to scan the task table.
import type { Node__Output, Task__Output } from '@shoal/api';
import { COMPLETE, hostPorts, rank, reservations } from './task-state.js';

/** Failures of one service's tasks on a node within this window count against the node. */
export const FAILURE_WINDOW_MS = 5 * 60_000;

interface Contribution {
  readonly task: Task__Output;
  readonly cpu: number;
  readonly memory: number;
  readonly ports: readonly string[];
  readonly active: boolean;
}

export class NodeInfo {
  readonly id: string;
  /** The node object; null while tasks point at a node the store does not have. */
  node: Node__Output | null = null;
  totalCpu = 0;
  totalMemory = 0;
  reservedCpu = 0;
  reservedMemory = 0;
  /** Tasks placed here that are meant to keep running (desired state at most COMPLETE). */
  activeTasks = 0;
  readonly #byService = new Map<string, number>();
  readonly #ports = new Map<string, number>();
  readonly #tasks = new Map<string, Contribution>();
  readonly #failures = new Map<string, number[]>();

  constructor(id: string, node: Node__Output | null = null) {
    this.id = id;
    if (node) this.setNode(node);
  }

  setNode(node: Node__Output | null): void {
    this.node = node;
    const r = node?.description?.resources;
    this.totalCpu = Number(r?.nano_cpus ?? 0);
    this.totalMemory = Number(r?.memory_bytes ?? 0);
  }

  get availableCpu(): number {
    return this.totalCpu - this.reservedCpu;
  }

  get availableMemory(): number {
    return this.totalMemory - this.reservedMemory;
  }

  /** Tasks placed here (holding resources). */
  get taskCount(): number {
    return this.#tasks.size;
  }

  hasTask(id: string): boolean {
    return this.#tasks.has(id);
  }

  /** Active tasks of one service placed here. */
  serviceTasks(serviceId: string): number {
    return this.#byService.get(serviceId) ?? 0;
  }

  /** Whether a host port ("tcp/8080") is published here by a placed task. */
  portInUse(key: string): boolean {
    return (this.#ports.get(key) ?? 0) > 0;
  }

  /** Adds (or replaces) a task holding resources here. */
  addTask(task: Task__Output): void {
    this.removeTask(task.id);
    const { cpu, memory } = reservations(task);
    const ports = hostPorts(task);
    const active = rank(task.desired_state) <= COMPLETE;
    this.#tasks.set(task.id, { task, cpu, memory, ports, active });
    this.reservedCpu += cpu;
    this.reservedMemory += memory;
    for (const p of ports) this.#ports.set(p, (this.#ports.get(p) ?? 0) + 1);
    if (active) {
      this.activeTasks++;
      this.#byService.set(task.service_id, (this.#byService.get(task.service_id) ?? 0) + 1);
    }
  }

  /** Removes a task; false when it was not here. */
  removeTask(id: string): boolean {
    const c = this.#tasks.get(id);
    if (!c) return false;
    this.#tasks.delete(id);
    this.reservedCpu -= c.cpu;
    this.reservedMemory -= c.memory;
    for (const p of c.ports) {
      const n = (this.#ports.get(p) ?? 0) - 1;
      if (n > 0) this.#ports.set(p, n);
      else this.#ports.delete(p);
    }
    if (c.active) {
      this.activeTasks--;
      const n = (this.#byService.get(c.task.service_id) ?? 0) - 1;
      if (n > 0) this.#byService.set(c.task.service_id, n);
      else this.#byService.delete(c.task.service_id);
    }
    return true;
  }

  /** Records that a task of `serviceId` failed here at `now`. */
  taskFailed(serviceId: string, now: number): void {
    const list = (this.#failures.get(serviceId) ?? []).filter((t) => now - t < FAILURE_WINDOW_MS);
    list.push(now);
    this.#failures.set(serviceId, list);
  }

  /** Failures of `serviceId`'s tasks here in the last FAILURE_WINDOW_MS. */
  recentFailures(serviceId: string, now: number): number {
    const list = this.#failures.get(serviceId);
    if (!list) return 0;
    let n = 0;
    for (const t of list) if (now - t < FAILURE_WINDOW_MS) n++;
    return n;
  }
}
