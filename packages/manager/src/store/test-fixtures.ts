// Small builders of cluster objects for the store's tests.
import type { Node, Service, Task, TaskState__Output } from '@shoal/api';

export function service(id: string, name: string, extra: Partial<Service> = {}): Service {
  return {
    id,
    spec: {
      annotations: { name, labels: {} },
      task: { container: { image: 'busybox:latest', args: ['sleep', '1000'] } },
      replicated: { replicas: 1 },
    },
    ...extra,
  };
}

export interface TaskOptions {
  nodeId?: string;
  desired?: TaskState__Output;
  state?: TaskState__Output;
  secrets?: string[];
  configs?: string[];
  networks?: string[];
  serviceName?: string;
}

export function task(id: string, serviceId: string, slot: number, o: TaskOptions = {}): Task {
  return {
    id,
    service_id: serviceId,
    slot,
    node_id: o.nodeId ?? '',
    service_annotations: { name: o.serviceName ?? serviceId },
    desired_state: o.desired ?? 'RUNNING',
    status: { state: o.state ?? 'NEW', message: 'created' },
    spec: {
      container: {
        image: 'busybox:latest',
        secrets: (o.secrets ?? []).map((s) => ({ secret_id: s, secret_name: s })),
        configs: (o.configs ?? []).map((c) => ({ config_id: c, config_name: c })),
      },
      networks: (o.networks ?? []).map((n) => ({ target: n })),
    },
  };
}

export function node(id: string, hostname: string, role: 'WORKER' | 'MANAGER' = 'WORKER'): Node {
  return {
    id,
    role,
    spec: { membership: 'ACCEPTED', availability: 'ACTIVE', desired_role: role },
    description: { hostname, platform: { os: 'linux', architecture: 'amd64' } },
    status: { state: 'READY' },
  };
}

/** A seeded PRNG (mulberry32), so a failing run replays exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
