// Builders of nodes and tasks for the scheduler's tests.
import type { Node, Node__Output, Task, TaskState__Output } from '@shoal/api';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const CPU = 1e9;

export interface NodeOptions {
  hostname?: string;
  state?: 'READY' | 'DOWN' | 'UNKNOWN' | 'DISCONNECTED';
  availability?: 'ACTIVE' | 'PAUSE' | 'DRAIN';
  role?: 'WORKER' | 'MANAGER';
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  os?: string;
  arch?: string;
  cpu?: number;
  memory?: number;
}

export function node(id: string, o: NodeOptions = {}): Node {
  return {
    id,
    role: o.role ?? 'WORKER',
    spec: {
      annotations: { name: '', labels: o.labels ?? {} },
      membership: 'ACCEPTED',
      availability: o.availability ?? 'ACTIVE',
      desired_role: o.role ?? 'WORKER',
    },
    description: {
      hostname: o.hostname ?? id,
      platform: { os: o.os ?? 'linux', architecture: o.arch ?? 'amd64' },
      resources: { nano_cpus: String(o.cpu ?? 4 * CPU), memory_bytes: String(o.memory ?? 8 * GiB) },
      engine: { engine_version: 'test', labels: o.engineLabels ?? {}, plugins: [] },
    },
    status: { state: o.state ?? 'READY' },
  };
}

/** The decoded form (every field present), for filter tests that skip the store. */
export function nodeOutput(id: string, o: NodeOptions = {}): Node__Output {
  const n = node(id, o);
  return {
    id,
    meta: null,
    role: n.role as Node__Output['role'],
    spec: {
      annotations: { name: '', labels: o.labels ?? {} },
      membership: 'ACCEPTED',
      availability: o.availability ?? 'ACTIVE',
      desired_role: o.role ?? 'WORKER',
    },
    description: {
      hostname: o.hostname ?? id,
      platform: { os: o.os ?? 'linux', architecture: o.arch ?? 'amd64' },
      resources: { nano_cpus: String(o.cpu ?? 4 * CPU), memory_bytes: String(o.memory ?? 8 * GiB), pids: '0' },
      engine: { engine_version: 'test', labels: o.engineLabels ?? {}, plugins: [] },
    },
    status: { state: o.state ?? 'READY', message: '', addr: '' },
    manager_status: null,
  };
}

export interface TaskOptions {
  nodeId?: string;
  state?: TaskState__Output;
  desired?: TaskState__Output;
  cpu?: number;
  memory?: number;
  constraints?: string[];
  spread?: string[];
  platforms?: Array<{ os?: string; architecture?: string }>;
  maxReplicas?: number;
  hostPorts?: number[];
  specVersion?: string;
}

export function task(id: string, serviceId: string, slot: number, o: TaskOptions = {}): Task {
  return {
    id,
    service_id: serviceId,
    slot,
    node_id: o.nodeId ?? '',
    service_annotations: { name: serviceId },
    desired_state: o.desired ?? 'RUNNING',
    spec_version: o.specVersion ? { index: o.specVersion } : null,
    status: { state: o.state ?? 'PENDING', message: 'pending task scheduling' },
    spec: {
      container: { image: 'busybox:latest' },
      resources: {
        reservations: { nano_cpus: String(o.cpu ?? 0), memory_bytes: String(o.memory ?? 0) },
      },
      placement: {
        constraints: o.constraints ?? [],
        preferences: (o.spread ?? []).map((d) => ({ spread: { spread_descriptor: d } })),
        platforms: (o.platforms ?? []).map((p) => ({ os: p.os ?? '', architecture: p.architecture ?? '' })),
        max_replicas: o.maxReplicas ?? 0,
      },
    },
    endpoint: {
      spec: {
        ports: (o.hostPorts ?? []).map((p) => ({ protocol: 'TCP', target_port: p, published_port: p, publish_mode: 'HOST' })),
      },
    },
  };
}
