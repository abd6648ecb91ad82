import type { Node__Output, Service__Output, Task__Output, TaskState__Output } from '@shoal/api';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { MemoryStore } from '../store/index.js';
import {
  DISPATCHER_HEARTBEATS,
  NODES,
  NODE_AVAILABILITIES,
  NODE_ROLES,
  NODE_STATES,
  RAFT_APPLIED_INDEX,
  RAFT_COMMIT_INDEX,
  RAFT_LEADER,
  RAFT_PROPOSAL_DURATION,
  RAFT_TERM,
  SCHEDULER_PASS_DURATION,
  SERVICE_DESIRED_REPLICAS,
  SERVICE_RUNNING_REPLICAS,
  SERVICE_TASKS,
  TASK_STATES,
  labelValue,
} from './definitions.js';
import type { HistogramDefinition, MetricDefinition, ServiceLabel } from './definitions.js';

/** What this manager's Raft member reports, read at every scrape. */
export interface RaftStatus {
  leader: boolean;
  term: number;
  commit: number;
  applied: number;
}

export interface ClusterMetricsDeps {
  /** Where the metrics are registered (the daemon's, served at --metrics-addr). */
  registry: Registry;
  /** This manager's Raft figures; called at every scrape, so it must be cheap and must not throw. */
  raft: () => RaftStatus;
  /**
   * Export the store-derived figures (services, nodes) on followers too.
   * Default false: only the leader exports them, so each figure has exactly
   * one source and alert rules need no de-duplication across managers.
   */
  storeFiguresOnFollowers?: boolean;
}

/** The one part of the scheduler's per-pass report the metrics need. */
export interface SchedulingPassTimes {
  readonly decideMs: number;
  readonly writeMs: number;
}

type ServiceLabels = Record<ServiceLabel, string>;

interface ServiceFigures {
  readonly labels: ServiceLabels;
  desired: number;
  running: number;
  readonly tasks: Map<TaskState__Output, number>;
}

interface StoreFigures {
  readonly services: ServiceFigures[];
  /** `state\0availability\0role` → count, every combination present. */
  readonly nodes: Map<string, number>;
}

const STATE_RANK = new Map<TaskState__Output, number>(TASK_STATES.map((s, i) => [s, i]));
const rank = (s: TaskState__Output | null | undefined): number => STATE_RANK.get(s ?? 'NEW') ?? 0;
const RUNNING = rank('RUNNING');
const COMPLETE = rank('COMPLETE');
const SEP = '\u0000';

type Mode = 'replicated' | 'global' | 'replicated_job' | 'global_job';

function modeOf(s: Service__Output): Mode {
  const spec = s.spec;
  if (spec?.mode) return spec.mode;
  if (spec?.global) return 'global';
  if (spec?.replicated_job) return 'replicated_job';
  if (spec?.global_job) return 'global_job';
  return 'replicated';
}

const isJob = (m: Mode): boolean => m === 'replicated_job' || m === 'global_job';

/**
 * Whether the managers still want the task: desired state at most RUNNING,
 * or COMPLETE for a job's task (SHUTDOWN and later: on its way out).
 */
const wanted = (t: Task__Output): boolean => rank(t.desired_state) <= COMPLETE;

/**
 * Computes the figures an operator alerts on from one consistent view of the
 * store. Running follows `docker service ls`: observed RUNNING, still
 * wanted, and not on a node marked DOWN (its replacements are on the way).
 */
function computeFigures(services: Service__Output[], tasks: Task__Output[], nodes: Node__Output[]): StoreFigures {
  const downNodes = new Set(nodes.filter((n) => n.status?.state === 'DOWN').map((n) => n.id));
  const byService = new Map<string, ServiceFigures & { mode: Mode; pendingDelete: boolean }>();
  for (const s of services) {
    const mode = modeOf(s);
    const replicas = Number(s.spec?.replicated?.replicas ?? 0);
    byService.set(s.id, {
      labels: { service_id: s.id, service_name: s.spec?.annotations?.name ?? '', service_mode: mode },
      mode,
      pendingDelete: s.pending_delete,
      // Replicated services state their count; the others want what their
      // orchestrator created (one per eligible node, or the job's current run).
      desired: s.pending_delete ? 0 : mode === 'replicated' ? replicas : 0,
      running: 0,
      tasks: new Map(TASK_STATES.map((st) => [st, 0])),
    });
  }
  for (const t of tasks) {
    const f = byService.get(t.service_id);
    if (!f) continue; // a task whose service is gone: the reaper's business
    const observed = t.status?.state ?? 'NEW';
    f.tasks.set(observed, (f.tasks.get(observed) ?? 0) + 1);
    if (!wanted(t)) continue;
    const r = rank(observed);
    if (r === RUNNING && !downNodes.has(t.node_id)) f.running++;
    if (f.mode === 'replicated' || f.pendingDelete) continue;
    // Global: every wanted task is a node that should run one. Jobs: the
    // wanted tasks that have not finished yet.
    if (isJob(f.mode) ? r <= RUNNING : rank(t.desired_state) <= RUNNING) f.desired++;
  }

  const nodeCounts = new Map<string, number>();
  for (const st of NODE_STATES) {
    for (const av of NODE_AVAILABILITIES) {
      for (const role of NODE_ROLES) nodeCounts.set([st, av, role].join(SEP), 0);
    }
  }
  for (const n of nodes) {
    const key = [n.status?.state ?? 'UNKNOWN', n.spec?.availability ?? 'ACTIVE', n.role ?? 'WORKER'].join(SEP);
    nodeCounts.set(key, (nodeCounts.get(key) ?? 0) + 1);
  }
  return { services: [...byService.values()], nodes: nodeCounts };
}

function gaugeConfig(d: MetricDefinition, registry: Registry, collect?: () => void) {
  return {
    name: d.name,
    help: d.help,
    labelNames: [...d.labelNames],
    registers: [registry],
    ...(collect ? { collect } : {}),
  };
}

function histogramConfig(d: HistogramDefinition, registry: Registry) {
  return { name: d.name, help: d.help, labelNames: [...d.labelNames], buckets: [...d.buckets], registers: [registry] };
}

/**
 * The manager's metrics. Service, task and node figures are computed from a
 * store view when Prometheus scrapes (so they cannot drift from the store);
 * Raft figures come from the injected `raft()`; latencies and heartbeats are
 * fed by the components through `observeProposal`, `observeSchedulingPass`
 * and `incHeartbeat`.
 */
export class ClusterMetrics {
  readonly #store: MemoryStore;
  readonly #registry: Registry;
  readonly #raft: () => RaftStatus;
  readonly #onFollowers: boolean;
  readonly #names: string[] = [];
  readonly #proposals: Histogram;
  readonly #passes: Histogram;
  readonly #heartbeats: Counter;
  /** The figures of the last scrape and the store index they were computed at. */
  #cached: { index: number; figures: StoreFigures } | undefined;

  /**
   * Registers every manager metric on `deps.registry`.
   * @throws Error from prom-client when a metric of the same name is already
   *   registered there (one ClusterMetrics per registry).
   */
  constructor(store: MemoryStore, deps: ClusterMetricsDeps) {
    this.#store = store;
    this.#registry = deps.registry;
    this.#raft = deps.raft;
    this.#onFollowers = deps.storeFiguresOnFollowers ?? false;
    const reg = deps.registry;
    // Each gauge asks for the figures; the first one of a scrape computes
    // them, the others reuse them (same store index).
    const figures = (): StoreFigures | undefined => this.#figures();

    this.#track(
      new Gauge({
        ...gaugeConfig(SERVICE_DESIRED_REPLICAS, reg),
        collect(this: Gauge) {
          this.reset();
          for (const s of figures()?.services ?? []) this.set(s.labels, s.desired);
        },
      }),
    );
    this.#track(
      new Gauge({
        ...gaugeConfig(SERVICE_RUNNING_REPLICAS, reg),
        collect(this: Gauge) {
          this.reset();
          for (const s of figures()?.services ?? []) this.set(s.labels, s.running);
        },
      }),
    );
    this.#track(
      new Gauge({
        ...gaugeConfig(SERVICE_TASKS, reg),
        collect(this: Gauge) {
          this.reset();
          for (const s of figures()?.services ?? []) {
            for (const [state, n] of s.tasks) this.set({ ...s.labels, state: labelValue(state) }, n);
          }
        },
      }),
    );
    this.#track(
      new Gauge({
        ...gaugeConfig(NODES, reg),
        collect(this: Gauge) {
          this.reset();
          for (const [key, n] of figures()?.nodes ?? []) {
            const [state = '', availability = '', role = ''] = key.split(SEP);
            this.set({ state: labelValue(state), availability: labelValue(availability), role: labelValue(role) }, n);
          }
        },
      }),
    );

    const raftGauge = (d: MetricDefinition, value: (r: RaftStatus) => number): void => {
      const raft = this.#raft;
      this.#track(
        new Gauge({
          ...gaugeConfig(d, reg),
          collect(this: Gauge) {
            this.set(value(raft()));
          },
        }),
      );
    };
    raftGauge(RAFT_LEADER, (r) => (r.leader ? 1 : 0));
    raftGauge(RAFT_TERM, (r) => r.term);
    raftGauge(RAFT_COMMIT_INDEX, (r) => r.commit);
    raftGauge(RAFT_APPLIED_INDEX, (r) => r.applied);

    this.#proposals = this.#track(new Histogram(histogramConfig(RAFT_PROPOSAL_DURATION, reg)));
    this.#passes = this.#track(new Histogram(histogramConfig(SCHEDULER_PASS_DURATION, reg)));
    this.#heartbeats = this.#track(new Counter(gaugeConfig(DISPATCHER_HEARTBEATS, reg)));
  }

  /** Records how long one proposal took from propose to applied, in seconds. */
  observeProposal(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.#proposals.observe(seconds);
  }

  /** Records one scheduling pass; pass it the scheduler's `onPass` report. */
  observeSchedulingPass(pass: SchedulingPassTimes): void {
    const seconds = (pass.decideMs + pass.writeMs) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0) this.#passes.observe(seconds);
  }

  /** Counts heartbeats the dispatcher received (default one). */
  incHeartbeat(count = 1): void {
    this.#heartbeats.inc(count);
  }

  /** Removes this object's metrics from the registry (e.g. when the node leaves the swarm). */
  close(): void {
    for (const name of this.#names) this.#registry.removeSingleMetric(name);
    this.#names.length = 0;
    this.#cached = undefined;
  }

  #track<M>(metric: M): M {
    // prom-client's metric objects do not expose their name in the types.
    this.#names.push((metric as { name: string }).name);
    return metric;
  }

  #figures(): StoreFigures | undefined {
    if (!this.#onFollowers && !this.#raft().leader) return undefined;
    const index = this.#store.appliedIndex;
    if (this.#cached?.index === index) return this.#cached.figures;
    const figures = this.#store.view((tx) => computeFigures(tx.services.find(), tx.tasks.find(), tx.nodes.find()));
    this.#cached = { index, figures };
    return figures;
  }
}
