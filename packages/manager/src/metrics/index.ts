export { ClusterMetrics } from './cluster-metrics.js';
export type { ClusterMetricsDeps, RaftStatus, SchedulingPassTimes } from './cluster-metrics.js';
export { AgentMetrics } from './agent-metrics.js';
export type { AgentMetricsDeps, ControllerFactory, StartableController } from './agent-metrics.js';
export { parseListenAddress, startMetricsServer } from './server.js';
export type { MetricsServer, MetricsServerOptions } from './server.js';
export * from './definitions.js';
export { createMetricsRegistry } from './registry.js';
export type { MetricsRegistryOptions, Registry } from './registry.js';
