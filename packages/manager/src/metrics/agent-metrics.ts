import { isAbortError } from '@shoal/api';
import type { TaskState__Output } from '@shoal/api';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { AGENT_CONTAINER_STARTS, AGENT_CONTAINER_START_FAILURES, AGENT_TASKS, TASK_STATES, labelValue } from './definitions.js';

export interface AgentMetricsDeps {
  /** Where the metrics are registered (the daemon's, served at --metrics-addr). */
  registry: Registry;
  /**
   * The observed state of every task the agent holds; called at every
   * scrape, so it must be cheap and must not throw.
   */
  taskStates: () => Iterable<TaskState__Output>;
  /**
   * Errors of a start attempt that are not failures, besides aborts (which
   * are retries): pass the agent's `isTaskStarted`, so a repeated start of a
   * running container counts as neither start nor failure.
   */
  notAFailure?: (err: unknown) => boolean;
}

/** The part of an agent's Controller that starts its container. */
export interface StartableController {
  start(signal: AbortSignal): Promise<void>;
}

/** The part of an agent's Executor that makes controllers. */
export interface ControllerFactory {
  controller(task: never): StartableController;
}

/**
 * A node's agent figures. It lives here because only manager may depend on
 * prom-client; the daemon (which sees both packages) builds it with a
 * `taskStates` view of the agent's tasks and wraps the agent's executor with
 * `instrumentExecutor`, so the agent itself never imports the manager.
 */
export class AgentMetrics {
  readonly #registry: Registry;
  readonly #starts: Counter;
  readonly #failures: Counter;
  readonly #notAFailure: (err: unknown) => boolean;

  /**
   * Registers the agent metrics on `deps.registry`.
   * @throws Error from prom-client when they are already registered there.
   */
  constructor(deps: AgentMetricsDeps) {
    this.#registry = deps.registry;
    this.#notAFailure = deps.notAFailure ?? (() => false);
    const taskStates = deps.taskStates;
    new Gauge({
      name: AGENT_TASKS.name,
      help: AGENT_TASKS.help,
      labelNames: [...AGENT_TASKS.labelNames],
      registers: [deps.registry],
      collect(this: Gauge) {
        const counts = new Map<TaskState__Output, number>(TASK_STATES.map((s) => [s, 0]));
        for (const s of taskStates()) counts.set(s, (counts.get(s) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state: labelValue(state) }, n);
      },
    });
    this.#starts = new Counter({ name: AGENT_CONTAINER_STARTS.name, help: AGENT_CONTAINER_STARTS.help, registers: [deps.registry] });
    this.#failures = new Counter({
      name: AGENT_CONTAINER_START_FAILURES.name,
      help: AGENT_CONTAINER_START_FAILURES.help,
      registers: [deps.registry],
    });
  }

  /** Counts a task container that started. */
  incContainerStart(): void {
    this.#starts.inc();
  }

  /** Counts a failed attempt to start a task container. */
  incContainerStartFailure(): void {
    this.#failures.inc();
  }

  /**
   * Counts one start attempt by its outcome and passes it through: resolved
   * is a start, rejected a failure unless it is an abort or `notAFailure`.
   * @throws whatever `attempt` rejects with.
   */
  async countStart<T>(attempt: Promise<T>): Promise<T> {
    try {
      const result = await attempt;
      this.#starts.inc();
      return result;
    } catch (err) {
      if (!isAbortError(err) && !this.#notAFailure(err)) this.#failures.inc();
      throw err;
    }
  }

  /**
   * The same executor, except that every controller it makes counts its
   * `start()` calls (see countStart). Everything else passes through.
   */
  instrumentExecutor<E extends ControllerFactory>(executor: E): E {
    const wrapController = (c: StartableController): StartableController =>
      new Proxy(c, {
        get: (target, prop) => {
          if (prop === 'start') return (signal: AbortSignal) => this.countStart(target.start(signal));
          const v: unknown = Reflect.get(target, prop);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    return new Proxy(executor, {
      get: (target, prop) => {
        if (prop === 'controller') return (task: never) => wrapController(target.controller(task));
        const v: unknown = Reflect.get(target, prop);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Removes these metrics from the registry. */
  close(): void {
    for (const d of [AGENT_TASKS, AGENT_CONTAINER_STARTS, AGENT_CONTAINER_START_FAILURES]) {
      this.#registry.removeSingleMetric(d.name);
    }
  }
}
