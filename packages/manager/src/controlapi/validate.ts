// Validation of the specs the Control API accepts, with swarmkit's and
// docker's wording where users know it. Everything here is pure: the server
// runs it before it opens a store transaction, so bad input changes nothing.
import { invalidArgument, parseReference } from '@shoal/api';
import type {
  ClusterSpec__Output,
  EndpointSpec__Output,
  NodeSpec__Output,
  Placement__Output,
  ResourceAmounts__Output,
  ResourceRequirements__Output,
  ServiceSpec__Output,
  TaskContainerSpec__Output,
  TaskRestartPolicy__Output,
  TaskSpec__Output,
} from '@shoal/api';
import { validateNodeCertExpiry } from '../ca/index.js';
import { parseConstraints, parseSpreadDescriptor } from '../constraint/index.js';

/** Docker's limit on names, which must also be DNS labels. */
export const MAX_NAME_LENGTH = 63;
const DNS_LABEL = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const LABEL_KEY_BAD = /[\s=]/;
const MIN_NANO_CPUS = 1e6;
const MIN_MEMORY_BYTES = 4 * 1024 * 1024;

export type ServiceModeName = 'replicated' | 'global' | 'replicated_job' | 'global_job';

type DurationLike = { seconds?: string | number | null; nanos?: number | null } | null | undefined;

/** A protobuf Duration in milliseconds (0 when unset). */
export function durationMs(d: DurationLike): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.trunc((d.nanos ?? 0) / 1e6);
}

const negative = (d: DurationLike): boolean => d != null && (Number(d.seconds ?? 0) < 0 || (d.nanos ?? 0) < 0);

/**
 * Checks a service (or other object) name: present, a DNS label, at most 63 characters.
 * @throws ShoalError InvalidArgument in swarmkit's words.
 */
export function validateName(name: string, noun = 'name'): void {
  if (name === '') throw invalidArgument(`meta: ${noun} must be provided`);
  if (name.length > MAX_NAME_LENGTH) {
    throw invalidArgument(`${noun} "${name}" is too long, must be ${MAX_NAME_LENGTH} characters or less`);
  }
  if (!DNS_LABEL.test(name)) {
    throw invalidArgument(
      `invalid ${noun} "${name}": ${noun} must be valid as a DNS name component (letters, digits, "-" and "_", starting and ending with a letter or digit)`,
    );
  }
}

/** @throws ShoalError InvalidArgument for an empty label key or one with "=" or spaces. */
export function validateLabels(labels: Record<string, string> | null | undefined, what: string): void {
  for (const key of Object.keys(labels ?? {})) {
    if (key === '' || LABEL_KEY_BAD.test(key)) {
      throw invalidArgument(`invalid ${what} label "${key}": a label key must be non-empty and contain no "=" or spaces`);
    }
  }
}

/** The mode a spec sets (the oneof), or undefined when it sets none. */
export function specMode(spec: Pick<ServiceSpec__Output, 'mode' | 'replicated' | 'global' | 'replicated_job' | 'global_job'>): ServiceModeName | undefined {
  if (spec.mode) return spec.mode;
  if (spec.replicated) return 'replicated';
  if (spec.global) return 'global';
  if (spec.replicated_job) return 'replicated_job';
  if (spec.global_job) return 'global_job';
  return undefined;
}

/** The mode as docker prints it: replicated, global, replicated-job, global-job. */
export const modeName = (m: ServiceModeName): string => m.replace('_', '-');

function validateAmounts(r: ResourceAmounts__Output | null, what: string): void {
  if (!r) return;
  const cpus = Number(r.nano_cpus);
  const mem = Number(r.memory_bytes);
  const pids = Number(r.pids);
  if (cpus < 0 || mem < 0 || pids < 0) {
    throw invalidArgument(`invalid ${what}: CPU, memory and pids must not be negative`);
  }
  if (cpus !== 0 && cpus < MIN_NANO_CPUS) {
    throw invalidArgument(`invalid cpu value ${cpus / 1e9}: Must be at least ${MIN_NANO_CPUS / 1e9}`);
  }
  if (mem !== 0 && mem < MIN_MEMORY_BYTES) {
    throw invalidArgument(`invalid memory value ${mem}: Must be at least 4MiB`);
  }
}

/** @throws ShoalError InvalidArgument for negative or too small reservations and limits. */
export function validateResourceRequirements(r: ResourceRequirements__Output | null | undefined): void {
  if (!r) return;
  validateAmounts(r.limits, 'limits');
  validateAmounts(r.reservations, 'reservations');
  const lim = r.limits;
  const res = r.reservations;
  if (lim && res) {
    if (Number(lim.nano_cpus) > 0 && Number(res.nano_cpus) > Number(lim.nano_cpus)) {
      throw invalidArgument('invalid resources: the CPU reservation is larger than the CPU limit; lower --reserve-cpu or raise --limit-cpu');
    }
    if (Number(lim.memory_bytes) > 0 && Number(res.memory_bytes) > Number(lim.memory_bytes)) {
      throw invalidArgument('invalid resources: the memory reservation is larger than the memory limit; lower --reserve-memory or raise --limit-memory');
    }
  }
}

/** @throws ShoalError InvalidArgument for a negative delay or window. */
export function validateRestartPolicy(rp: TaskRestartPolicy__Output | null | undefined): void {
  if (!rp) return;
  if (negative(rp.delay)) throw invalidArgument('TaskSpec: restart-delay cannot be negative');
  if (negative(rp.window)) throw invalidArgument('TaskSpec: restart-window cannot be negative');
}

/** @throws ShoalError InvalidArgument for a bad constraint, preference or platform. */
export function validatePlacement(p: Placement__Output | null | undefined, mode: ServiceModeName | undefined): void {
  if (!p) return;
  parseConstraints(p.constraints);
  for (const pref of p.preferences) {
    if (!pref.spread) throw invalidArgument('invalid placement preference: only spread preferences are supported, e.g. spread=node.labels.zone');
    parseSpreadDescriptor(pref.spread.spread_descriptor);
  }
  for (const pl of p.platforms) {
    if (pl.os === '' && pl.architecture === '') throw invalidArgument('invalid placement platform: give an OS, an architecture or both');
  }
  if (Number(p.max_replicas) > 0 && (mode === 'global' || mode === 'global_job')) {
    throw invalidArgument('replicas-max-per-node can only be used with replicated or replicated-job mode');
  }
}

function validateContainer(c: TaskContainerSpec__Output | null): void {
  if (!c) throw invalidArgument('ContainerSpec: missing in service spec');
  if (c.image === '') throw invalidArgument('ContainerSpec: image reference must be provided');
  try {
    parseReference(c.image);
  } catch {
    throw invalidArgument(`ContainerSpec: "${c.image}" is not a valid repository/tag`);
  }
  for (const e of c.env) {
    const eq = e.indexOf('=');
    if (eq === 0 || e === '') throw invalidArgument(`ContainerSpec: invalid environment variable "${e}": use KEY=VALUE`);
  }
  validateLabels(c.labels, 'container');
  if (negative(c.stop_grace_period)) throw invalidArgument('ContainerSpec: stop-grace-period cannot be negative');
  const targets = new Set<string>();
  for (const m of c.mounts) {
    if (m.target === '' || !m.target.startsWith('/')) {
      throw invalidArgument(`ContainerSpec: invalid mount target, must be an absolute path: ${m.target}`);
    }
    if (targets.has(m.target)) throw invalidArgument(`ContainerSpec: duplicate mount point: ${m.target}`);
    targets.add(m.target);
    switch (m.type) {
      case 'BIND':
        if (!m.source.startsWith('/')) throw invalidArgument(`ContainerSpec: invalid bind mount source, must be an absolute path: ${m.source}`);
        break;
      case 'TMPFS':
        if (m.source !== '') throw invalidArgument('ContainerSpec: invalid tmpfs source, source must be empty');
        if (m.tmpfs_options && Number(m.tmpfs_options.size_bytes) < 0) throw invalidArgument('ContainerSpec: invalid tmpfs size, must not be negative');
        break;
      case 'VOLUME':
        if (m.source !== '' && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(m.source)) {
          throw invalidArgument(`ContainerSpec: invalid volume name "${m.source}": only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
        }
        break;
      default:
        break;
    }
  }
}

/** @throws ShoalError InvalidArgument for bad ports (range, duplicates, dnsrr with ingress ports). */
export function validateEndpointSpec(ep: EndpointSpec__Output | null | undefined): void {
  if (!ep) return;
  const seen = new Set<string>();
  for (const p of ep.ports) {
    if (p.target_port < 1 || p.target_port > 65535) {
      throw invalidArgument(`EndpointSpec: invalid target port ${p.target_port}: must be between 1 and 65535`);
    }
    if (p.published_port > 65535) {
      throw invalidArgument(`EndpointSpec: invalid published port ${p.published_port}: must be between 1 and 65535`);
    }
    if (p.publish_mode === 'INGRESS' && ep.mode === 'DNSRR') {
      throw invalidArgument("EndpointSpec: port published with ingress mode can't be used with dnsrr mode");
    }
    if (p.published_port === 0) continue;
    const key = `${p.published_port}/${p.protocol}/${p.publish_mode}`;
    if (seen.has(key)) throw invalidArgument('EndpointSpec: duplicate published ports provided');
    seen.add(key);
  }
}

/** @throws ShoalError InvalidArgument for a task spec the cluster cannot run. */
export function validateTaskSpec(task: TaskSpec__Output | null | undefined, mode: ServiceModeName | undefined): void {
  if (!task) throw invalidArgument('TaskSpec: missing in service spec');
  validateResourceRequirements(task.resources);
  validateRestartPolicy(task.restart);
  validatePlacement(task.placement, mode);
  validateContainer(task.container);
}

/**
 * Checks a whole service spec as CreateService and UpdateService receive it.
 * The name may be empty (the server then picks one).
 * @throws ShoalError InvalidArgument naming the first problem.
 */
export function validateServiceSpec(spec: ServiceSpec__Output | null | undefined): ServiceModeName {
  if (!spec) throw invalidArgument('a service spec must be provided');
  const name = spec.annotations?.name ?? '';
  if (name !== '') validateName(name);
  validateLabels(spec.annotations?.labels, 'service');
  const mode = specMode(spec);
  if (!mode) throw invalidArgument('the service has no mode: set one of replicated, global, replicated-job or global-job');
  if (mode === 'replicated_job') {
    const j = spec.replicated_job;
    const total = Number(j?.total_completions ?? 0);
    const max = Number(j?.max_concurrent ?? 0);
    if (max > total) {
      throw invalidArgument(
        `the maximum number of concurrent tasks (${max}) cannot be greater than the total completions (${total}); lower --max-concurrent or raise --replicas`,
      );
    }
  }
  validateTaskSpec(spec.task, mode);
  if (spec.update && negative(spec.update.delay)) throw invalidArgument('TaskSpec: update-delay cannot be negative');
  if (spec.update && (spec.update.max_failure_ratio < 0 || spec.update.max_failure_ratio > 1)) {
    throw invalidArgument('UpdateConfig: max-failure-ratio must be between 0 and 1');
  }
  validateEndpointSpec(spec.endpoint);
  return mode;
}

/** @throws ShoalError InvalidArgument for a node spec with bad labels. */
export function validateNodeSpec(spec: NodeSpec__Output | null | undefined): asserts spec is NodeSpec__Output {
  if (!spec) throw invalidArgument('a node spec must be provided');
  validateLabels(spec.annotations?.labels, 'node');
}

/** @throws ShoalError InvalidArgument for negative limits, a zero heartbeat or too short certificates. */
export function validateClusterSpec(spec: ClusterSpec__Output | null | undefined): asserts spec is ClusterSpec__Output {
  if (!spec) throw invalidArgument('a cluster spec must be provided');
  if (Number(spec.orchestration?.task_history_retention_limit ?? 0) < 0) {
    throw invalidArgument('invalid task history retention limit: it must not be negative');
  }
  const hb = spec.dispatcher?.heartbeat_period;
  if (hb && negative(hb)) throw invalidArgument('invalid dispatcher heartbeat period: it must be positive');
  const expiry = spec.ca_config?.node_cert_expiry;
  if (expiry && durationMs(expiry) !== 0) validateNodeCertExpiry(durationMs(expiry));
}
