import { Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsRegistryOptions {
  /**
   * Also export the standard process and Node.js figures (process_cpu_seconds_total,
   * process_resident_memory_bytes, nodejs_eventloop_lag_seconds, …). Default true.
   */
  processMetrics?: boolean;
}

/**
 * A fresh registry for one daemon, so callers need not depend on prom-client
 * themselves. Pass it to ClusterMetrics, AgentMetrics and startMetricsServer.
 */
export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

export type { Registry };
