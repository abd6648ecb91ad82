// This node's agent: it runs the tasks the managers assign it on the engine,
// over a dispatcher session authenticated by the node's certificate.
import type { Logger } from '@shoal/api';
import type { Engine } from '@shoal/engine';
import { Agent, EngineExecutor } from '@shoal/agent';
import { clientCredentials, clusterChannelOptions } from '@shoal/manager/ca/index';
import type { AgentContext, AgentHandle } from './swarm-node.js';

export function startAgent(engine: Engine, ctx: AgentContext, logger: Logger): AgentHandle {
  const log = logger.child({ component: 'agent', 'node.id': ctx.nodeId });
  const agent = new Agent({
    executor: new EngineExecutor(engine, { logger: log }),
    managers: ctx.managers,
    credentials: () => clientCredentials(ctx.cert, 'MANAGER'),
    channelOptions: clusterChannelOptions(),
    dataDir: ctx.dataDir,
    logger: log,
  });
  const ctl = new AbortController();
  const running = agent.run(ctl.signal).catch((err: unknown) => {
    if (!ctl.signal.aborted) log.error('the agent stopped', { error: String(err) });
  });
  return {
    async stop() {
      ctl.abort();
      await running;
    },
  };
}
