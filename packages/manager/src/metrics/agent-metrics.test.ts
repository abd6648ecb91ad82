import test from 'ava';
import type { TaskState__Output } from '@shoal/api';
import { Registry } from 'prom-client';
import { AgentMetrics } from './agent-metrics.js';
import { TASK_STATES } from './definitions.js';
import { samples, value } from './test-helpers.js';

const alreadyStarted = (err: unknown): boolean => (err as Error).message === 'task: already started';

function setup(states: TaskState__Output[] = []) {
  const registry = new Registry();
  const metrics = new AgentMetrics({ registry, taskStates: () => states, notAFailure: alreadyStarted });
  return { registry, metrics, states };
}

test('the agent reports the tasks it holds by observed state, every state present', async (t) => {
  const { registry, states } = setup(['RUNNING', 'RUNNING', 'PREPARING']);
  t.is(await value(registry, 'shoal_agent_tasks', { state: 'running' }), 2);
  t.is(await value(registry, 'shoal_agent_tasks', { state: 'preparing' }), 1);
  t.is(await value(registry, 'shoal_agent_tasks', { state: 'failed' }), 0);
  t.is((await samples(registry, 'shoal_agent_tasks')).length, TASK_STATES.length);
  states.length = 0;
  t.is(await value(registry, 'shoal_agent_tasks', { state: 'running' }), 0, 'read at every scrape');
});

// A stand-in for the agent's Executor/Controller seam, with private state as real classes have.
class FakeController {
  readonly #outcome: 'ok' | 'fail' | 'started' | 'abort';
  constructor(outcome: 'ok' | 'fail' | 'started' | 'abort') {
    this.#outcome = outcome;
  }
  get outcome(): string {
    return this.#outcome;
  }
  async start(_signal: AbortSignal): Promise<void> {
    if (this.#outcome === 'fail') throw new Error('exec: no such file');
    if (this.#outcome === 'started') throw new Error('task: already started');
    if (this.#outcome === 'abort') throw new DOMException('aborted', 'AbortError');
  }
  async wait(_signal: AbortSignal): Promise<void> {}
}

class FakeExecutor {
  readonly #made: string[] = [];
  controller(task: { id: string; outcome: 'ok' | 'fail' | 'started' | 'abort' }): FakeController {
    this.#made.push(task.id);
    return new FakeController(task.outcome);
  }
  get made(): string[] {
    return this.#made;
  }
}

test('an instrumented executor counts container starts and real failures, not aborts or repeated starts', async (t) => {
  const { registry, metrics } = setup();
  const executor = metrics.instrumentExecutor(new FakeExecutor());
  const signal = new AbortController().signal;
  await executor.controller({ id: 'a', outcome: 'ok' }).start(signal);
  await executor.controller({ id: 'b', outcome: 'ok' }).start(signal);
  await t.throwsAsync(executor.controller({ id: 'c', outcome: 'fail' }).start(signal), { message: /no such file/ });
  await t.throwsAsync(executor.controller({ id: 'd', outcome: 'started' }).start(signal));
  await t.throwsAsync(executor.controller({ id: 'e', outcome: 'abort' }).start(signal), { any: true, name: 'AbortError' });
  t.is(await value(registry, 'shoal_agent_container_starts_total'), 2);
  t.is(await value(registry, 'shoal_agent_container_start_failures_total'), 1);

  const c = executor.controller({ id: 'f', outcome: 'ok' });
  t.is(c.outcome, 'ok', 'getters reading private fields pass through');
  await t.notThrowsAsync(c.wait(signal), 'other methods pass through');
  t.deepEqual(executor.made, ['a', 'b', 'c', 'd', 'e', 'f']);
});

test('close unregisters the agent metrics', async (t) => {
  const { registry, metrics } = setup();
  metrics.close();
  t.is((await registry.getMetricsAsJSON()).length, 0);
  t.notThrows(() => new AgentMetrics({ registry, taskStates: () => [] }));
});
