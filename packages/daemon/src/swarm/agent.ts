// This node's agent: it runs the tasks the managers assign it on the engine,
// over a dispatcher session authenticated by the node's certificate.
import type { Logger } from '@shoal/api';
import type { Engine } from '@shoal/engine';
import { Agent, EngineExecutor } from '@shoal/agent';
import { clientCredentials, clusterChannelOptions } from '@shoal/manager/ca/index';
import { AgentMetrics } from '@shoal/manager/metrics/index';
import type { Registry } from '@shoal/manager/metrics/index';
import type { AgentContext, AgentHandle } from './swarm-node.js';

export function startAgent(engine: Engine, ctx: AgentContext, logger: Logger, registry?: Registry): AgentHandle {
  const log = logger.child({ component: 'agent', 'node.id': ctx.nodeId });
  let executor = new EngineExecutor(engine, { logger: log });
  // The task states are read at scrape time from the agent built below.
  const box: { agent?: Agent } = {};
  const metrics = registry ? new AgentMetrics({ registry, taskStates: () => (box.agent?.worker.tasks() ?? []).map((t) => t.status.state) }) : undefined;
  if (metrics) executor = metrics.instrumentExecutor(executor);
  const agent = new Agent({
    executor,
    managers: ctx.managers,
    credentials: () => clientCredentials(ctx.cert, 'MANAGER'),
    channelOptions: clusterChannelOptions(),
    dataDir: ctx.dataDir,
    logger: log,
    // The node learns of its own role changes (promote/demote) from the Node object the managers send.
    ...(ctx.onNode ? { onNode: ctx.onNode } : {}),
  });
  box.agent = agent;
  const ctl = new AbortController();
  const running = agent.run(ctl.signal).catch((err: unknown) => {
    if (!ctl.signal.aborted) log.error('the agent stopped', { error: String(err) });
  });
  return {
    managers: () => agent.state().managers,
    async removeContainers() {
      for (const rec of engine.containers.list()) {
        if (rec.spec.labels['com.docker.swarm.node.id'] !== ctx.nodeId) continue;
        await engine.containers.remove(rec.id, true).catch((err: unknown) => log.warn('could not remove a task container', { 'container.id': rec.id, error: String(err) }));
      }
    },
    async stop() {
      ctl.abort();
      await running;
      metrics?.close();
    },
  };
}
