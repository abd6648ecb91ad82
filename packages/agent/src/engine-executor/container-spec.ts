// How a swarm task becomes an engine container: its name, its labels (the
// com.docker.swarm.* ones that tie it to its service, task and node) and the
// engine ContainerSpec built from the task's TaskContainerSpec. Pure.
import {
  invalidArgument,
  type ContainerSpec__Output,
  type Mount__Output,
  type PortBinding__Output,
  type Resources__Output,
  type TaskMount__Output,
  type Task__Output,
} from '@shoal/api';

export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';
export const LABEL_TASK = 'com.docker.swarm.task';
export const LABEL_TASK_ID = 'com.docker.swarm.task.id';
export const LABEL_TASK_NAME = 'com.docker.swarm.task.name';
export const LABEL_NODE_ID = 'com.docker.swarm.node.id';
export const LABEL_SLOT = 'com.docker.swarm.task.slot';

/** `<service>.<slot>.<task id>` (global services: `<service>.<node id>.<task id>`), as Docker names them. */
export function taskName(task: Task__Output): string {
  if (task.annotations?.name) return task.annotations.name;
  const service = task.service_annotations?.name || task.service_id;
  const slot = task.slot && task.slot !== '0' ? task.slot : task.node_id;
  return `${service}.${slot}.${task.id}`;
}

/** The labels that mark a container as this task's. */
export function taskLabels(task: Task__Output, nodeId: string): Record<string, string> {
  return {
    [LABEL_TASK]: '',
    [LABEL_SERVICE_ID]: task.service_id,
    [LABEL_SERVICE_NAME]: task.service_annotations?.name ?? '',
    [LABEL_TASK_ID]: task.id,
    [LABEL_TASK_NAME]: taskName(task),
    [LABEL_NODE_ID]: nodeId || task.node_id,
    ...(task.slot && task.slot !== '0' ? { [LABEL_SLOT]: task.slot } : {}),
  };
}

/**
 * The engine ContainerSpec of a task.
 * @throws InvalidArgument when the task has no container spec or image.
 */
export function containerSpec(task: Task__Output, nodeId: string): ContainerSpec__Output {
  const c = task.spec?.container;
  if (!c?.image) throw invalidArgument(`task ${task.id} has no container image; the service spec must name one`);
  const limits = task.spec?.resources?.limits;
  const reservations = task.spec?.resources?.reservations;
  const resources: Resources__Output = {
    memory: limits?.memory_bytes ?? '0',
    memory_swap: '0',
    memory_reservation: reservations?.memory_bytes ?? '0',
    nano_cpus: limits?.nano_cpus ?? '0',
    cpu_shares: '0',
    cpuset_cpus: '',
    ulimits: [],
    cpu_period: '0',
    cpu_quota: '0',
    ...(limits && limits.pids !== '0' ? { pids_limit: limits.pids } : {}),
  };
  const grace = c.stop_grace_period;
  const spec: ContainerSpec__Output = {
    image: c.image,
    // TaskContainerSpec.command replaces the image's entrypoint, args its cmd (docker service create semantics).
    entrypoint: [...c.command],
    entrypoint_set: c.command.length > 0,
    cmd: [...c.args],
    env: [...c.env],
    working_dir: c.dir,
    user: c.user,
    hostname: c.hostname,
    labels: { ...c.labels, ...taskLabels(task, nodeId) },
    tty: c.tty,
    open_stdin: c.open_stdin,
    stdin_once: false,
    stop_signal: c.stop_signal,
    ...(grace ? { stop_timeout: Math.ceil(Number(grace.seconds) + grace.nanos / 1e9) } : {}),
    auto_remove: false,
    // The swarm restarts tasks (as new tasks); the engine must not.
    restart_policy: { name: 'no', maximum_retry_count: 0 },
    init: c.init ?? false,
    network_mode: '',
    resources,
    privileged: false,
    cap_add: [...c.capability_add],
    cap_drop: [...c.capability_drop],
    security_opt: [],
    readonly_rootfs: c.read_only,
    tmpfs: {},
    log_config: null,
    domainname: '',
    network_aliases: [],
    ipv4_address: '',
    dns: [],
    dns_search: [],
    dns_options: [],
    extra_hosts: c.hosts.flatMap(hostEntry),
    links: [],
    expose: [],
    port_bindings: hostPorts(task),
    publish_all: false,
    binds: [],
    mounts: c.mounts.map(mount),
    volumes_from: [],
    volume_driver: '',
  };
  return spec;
}

/** "IP host1 host2" (the swarm's /etc/hosts form) → ["host1:IP", "host2:IP"]. */
function hostEntry(line: string): string[] {
  const [ip, ...names] = line.trim().split(/\s+/);
  if (!ip || names.length === 0) return [];
  return names.map((n) => `${n}:${ip}`);
}

function mount(m: TaskMount__Output): Mount__Output {
  const type = m.type === 'BIND' ? 'bind' : m.type === 'TMPFS' ? 'tmpfs' : 'volume';
  return {
    type,
    source: m.source,
    target: m.target,
    readonly: m.read_only,
    consistency: m.consistency,
    volume_nocopy: m.volume_options?.no_copy ?? false,
    volume_labels: { ...m.volume_options?.labels },
    volume_driver: m.volume_options?.driver_config?.name ?? '',
    volume_options: { ...m.volume_options?.driver_config?.options },
    bind_propagation: m.bind_options?.propagation ?? '',
    bind_create_host_path: false,
    tmpfs_size: m.tmpfs_options?.size_bytes ?? '0',
    tmpfs_mode: m.tmpfs_options?.mode ?? 0,
  };
}

/** Ports published in host mode (ingress ports belong to the routing mesh, not the container). */
function hostPorts(task: Task__Output): PortBinding__Output[] {
  const ports = task.endpoint?.ports.length ? task.endpoint.ports : (task.endpoint?.spec?.ports ?? []);
  return ports
    .filter((p) => p.publish_mode === 'HOST')
    .map((p) => ({
      container_port: p.target_port,
      protocol: p.protocol.toLowerCase(),
      host_ip: '',
      host_port: p.published_port ? String(p.published_port) : '',
    }));
}
