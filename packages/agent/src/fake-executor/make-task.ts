// A complete decoded Task for tests and fakes, with the fields that matter given.
import type { TaskSpec__Output, TaskState__Output, TaskStatus__Output, Task__Output } from '@shoal/api';

export interface MakeTaskOptions {
  id: string;
  serviceId?: string;
  serviceName?: string;
  slot?: number;
  nodeId?: string;
  image?: string;
  desired?: TaskState__Output;
  state?: TaskState__Output;
  spec?: Partial<TaskSpec__Output>;
}

/** A task as the dispatcher would send it (decoded form, every field set). */
export function makeTask(o: MakeTaskOptions): Task__Output {
  const status: TaskStatus__Output = { timestamp: null, state: o.state ?? 'ASSIGNED', message: '', err: '', container_status: null };
  return {
    id: o.id,
    meta: null,
    spec: {
      container: null,
      resources: null,
      restart: null,
      placement: null,
      networks: [],
      log_driver: null,
      force_update: '0',
      ...o.spec,
      ...(o.image !== undefined && !o.spec?.container ? { container: containerSpec(o.image) } : {}),
    },
    spec_version: null,
    service_id: o.serviceId ?? 'svc1',
    slot: String(o.slot ?? 1),
    node_id: o.nodeId ?? 'node1',
    annotations: { name: '', labels: {} },
    service_annotations: { name: o.serviceName ?? 'web', labels: {} },
    status,
    desired_state: o.desired ?? 'RUNNING',
    networks: [],
    endpoint: null,
    job_iteration: null,
  };
}

function containerSpec(image: string): NonNullable<TaskSpec__Output['container']> {
  return {
    image,
    labels: {},
    command: [],
    args: [],
    hostname: '',
    env: [],
    dir: '',
    user: '',
    groups: [],
    tty: false,
    open_stdin: false,
    read_only: false,
    mounts: [],
    stop_grace_period: null,
    stop_signal: '',
    secrets: [],
    configs: [],
    healthcheck: null,
    hosts: [],
    sysctls: {},
    capability_add: [],
    capability_drop: [],
  };
}
