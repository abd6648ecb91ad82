// `service create` / `service update` flags → ServiceSpec, with docker's
// client-side checks and wording. The daemon validates again; these checks
// only make the common mistakes fail before a request is sent.
import type { PortConfig, ServiceSpec, TaskMount, TaskSpec, TaskContainerSpec } from '@shoal/api';
import { parseBytes, parseCpus } from '@shoal/api/units';
import { invalidFlag, UsageError } from '../cli-error.js';
import { readKeyValueFile, resolveEnvFlag } from '../parse/env-file.js';
import { parseMount } from '../run/mounts.js';
import { parseGoDuration, toDuration } from './duration.js';

export type Opts = Record<string, unknown>;
type Mode = 'replicated' | 'global' | 'replicated_job' | 'global_job';

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const given = (o: Opts, k: string): boolean => o[k] !== undefined;

/** Parses an unsigned integer flag. Throws UsageError in docker's words. */
export function parseUint(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim())) throw invalidFlag(value, flag, `strconv.ParseUint: parsing "${value}": invalid syntax`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalidFlag(value, flag, `strconv.ParseUint: parsing "${value}": value out of range`);
  return n;
}

function parsed<T>(value: string, flag: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw invalidFlag(value, flag, (err as Error).message);
  }
}

/** `k=v` / `k` list flags into a map. */
export function keyValues(values: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list(values)) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (key === '') throw invalidFlag(v, flag, 'the key is empty; use key=value');
    out[key] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

const MODES: Record<string, Mode> = {
  replicated: 'replicated',
  global: 'global',
  'replicated-job': 'replicated_job',
  'global-job': 'global_job',
};

/** Parses --mode. Throws UsageError for an unknown mode. */
export function parseMode(value: string | undefined): Mode {
  const m = MODES[value ?? 'replicated'];
  if (!m) throw new UsageError(`invalid mode "${value ?? ''}": use replicated, global, replicated-job or global-job`);
  return m;
}

/** The mode a spec has (from the oneof). */
export function modeOf(spec: ServiceSpec | null | undefined): Mode | undefined {
  if (!spec) return undefined;
  if (spec.mode) return spec.mode;
  if (spec.replicated) return 'replicated';
  if (spec.global) return 'global';
  if (spec.replicated_job) return 'replicated_job';
  if (spec.global_job) return 'global_job';
  return undefined;
}

/** Parses one --publish value: `published:target[/proto]`, `target[/proto]` or `mode=host,target=80,published=8080,protocol=udp`. */
export function parsePublishSpec(value: string): PortConfig {
  const flag = '-p, --publish';
  const port = (v: string, what: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw invalidFlag(value, flag, `invalid ${what} port "${v}": use a number from 1 to 65535`);
    return Number(v);
  };
  const protocol = (p: string): PortConfig['protocol'] => {
    const up = p.toUpperCase();
    if (up !== 'TCP' && up !== 'UDP' && up !== 'SCTP') throw invalidFlag(value, flag, `invalid protocol "${p}": use tcp, udp or sctp`);
    return up;
  };
  if (value.includes('=')) {
    const pc: PortConfig = { protocol: 'TCP', publish_mode: 'INGRESS' };
    for (const field of value.split(',')) {
      const eq = field.indexOf('=');
      if (eq < 0) throw invalidFlag(value, flag, `invalid field '${field}' must be a key=value pair`);
      const key = field.slice(0, eq).trim().toLowerCase();
      const v = field.slice(eq + 1).trim();
      switch (key) {
        case 'mode':
          if (v !== 'host' && v !== 'ingress') throw invalidFlag(value, flag, `invalid publish mode value (${v}): must be either "ingress" or "host"`);
          pc.publish_mode = v === 'host' ? 'HOST' : 'INGRESS';
          break;
        case 'target':
          pc.target_port = port(v, 'target');
          break;
        case 'published':
          pc.published_port = port(v, 'published');
          break;
        case 'protocol':
          pc.protocol = protocol(v);
          break;
        default:
          throw invalidFlag(value, flag, `invalid field key ${key}`);
      }
    }
    if (!pc.target_port) throw invalidFlag(value, flag, 'missing mandatory field "target"');
    return pc;
  }
  const slash = value.indexOf('/');
  const ports = slash < 0 ? value : value.slice(0, slash);
  const proto = slash < 0 ? 'TCP' : protocol(value.slice(slash + 1));
  const parts = ports.split(':');
  if (parts.length > 2) throw invalidFlag(value, flag, 'use [published:]target[/protocol] or mode=host,target=80,published=8080');
  const [a = '', b] = parts;
  if (b === undefined) return { target_port: port(a, 'target'), protocol: proto, publish_mode: 'INGRESS' };
  return { published_port: port(a, 'published'), target_port: port(b, 'target'), protocol: proto, publish_mode: 'INGRESS' };
}

/** One --mount value as a task mount. Throws UsageError. */
export function parseTaskMount(value: string): TaskMount {
  const m = parseMount(value);
  const type = m.type === 'bind' ? 'BIND' : m.type === 'tmpfs' ? 'TMPFS' : 'VOLUME';
  const out: TaskMount = { type, source: m.source ?? '', target: m.target ?? '', read_only: Boolean(m.readonly) };
  if (m.consistency) out.consistency = m.consistency;
  if (type === 'BIND' && m.bind_propagation) out.bind_options = { propagation: m.bind_propagation };
  if (type === 'VOLUME') {
    out.volume_options = {
      no_copy: Boolean(m.volume_nocopy),
      labels: m.volume_labels ?? {},
      ...(m.volume_driver ? { driver_config: { name: m.volume_driver, options: m.volume_options ?? {} } } : {}),
    };
  }
  if (type === 'TMPFS') out.tmpfs_options = { size_bytes: m.tmpfs_size ?? 0, mode: m.tmpfs_mode ?? 0 };
  return out;
}

/** Parses `spread=node.labels.zone`. Throws UsageError for anything else. */
export function parsePlacementPref(value: string): { spread: { spread_descriptor: string } } {
  const eq = value.indexOf('=');
  const strategy = eq < 0 ? value : value.slice(0, eq);
  if (eq < 0 || value.slice(eq + 1) === '') throw invalidFlag(value, '--placement-pref', 'placement preference must be of the format "<strategy>=<arg>"');
  if (strategy.toLowerCase() !== 'spread') throw invalidFlag(value, '--placement-pref', `unsupported placement preference ${strategy} (only spread is supported)`);
  return { spread: { spread_descriptor: value.slice(eq + 1) } };
}

const RESTART_CONDITIONS: Record<string, 'ANY' | 'NONE' | 'ON_FAILURE'> = { any: 'ANY', none: 'NONE', 'on-failure': 'ON_FAILURE' };

function entrypoint(value: string): string[] {
  return value.trim() === '' ? [] : value.trim().split(/\s+/);
}

/**
 * Applies the flags create and update share to `spec` (in place): resources,
 * restart policy, replicas per node, container settings.
 * Throws UsageError for a bad value.
 */
function applyCommon(spec: ServiceSpec, o: Opts): void {
  const task: TaskSpec = (spec.task ??= {});
  const c: TaskContainerSpec = (task.container ??= {});
  if (given(o, 'hostname')) c.hostname = str(o.hostname) ?? '';
  if (given(o, 'user')) c.user = str(o.user) ?? '';
  if (given(o, 'workdir')) c.dir = str(o.workdir) ?? '';
  if (given(o, 'entrypoint')) c.command = entrypoint(str(o.entrypoint) ?? '');
  if (given(o, 'stopSignal')) c.stop_signal = str(o.stopSignal) ?? '';
  if (given(o, 'stopGracePeriod')) c.stop_grace_period = toDuration(parseGoDuration(str(o.stopGracePeriod) ?? '', '--stop-grace-period'));
  if (given(o, 'tty')) c.tty = Boolean(o.tty);
  if (given(o, 'readOnly')) c.read_only = Boolean(o.readOnly);
  if (given(o, 'init')) c.init = Boolean(o.init);

  const res = (task.resources ??= {});
  const cpu = (flag: string, v: unknown): number => parsed(str(v) ?? '', flag, parseCpus);
  const mem = (flag: string, v: unknown): number => parsed(str(v) ?? '', flag, parseBytes);
  if (given(o, 'reserveCpu')) (res.reservations ??= {}).nano_cpus = cpu('--reserve-cpu', o.reserveCpu);
  if (given(o, 'reserveMemory')) (res.reservations ??= {}).memory_bytes = mem('--reserve-memory', o.reserveMemory);
  if (given(o, 'limitCpu')) (res.limits ??= {}).nano_cpus = cpu('--limit-cpu', o.limitCpu);
  if (given(o, 'limitMemory')) (res.limits ??= {}).memory_bytes = mem('--limit-memory', o.limitMemory);
  if (given(o, 'limitPids')) (res.limits ??= {}).pids = parseUint(str(o.limitPids) ?? '', '--limit-pids');

  if (given(o, 'restartCondition')) {
    const v = str(o.restartCondition) ?? '';
    const cond = RESTART_CONDITIONS[v];
    if (!cond) throw invalidFlag(v, '--restart-condition', 'invalid restart condition: use "none", "on-failure" or "any"');
    (task.restart ??= {}).condition = cond;
  }
  if (given(o, 'restartDelay')) (task.restart ??= {}).delay = toDuration(parseGoDuration(str(o.restartDelay) ?? '', '--restart-delay'));
  if (given(o, 'restartWindow')) (task.restart ??= {}).window = toDuration(parseGoDuration(str(o.restartWindow) ?? '', '--restart-window'));
  if (given(o, 'restartMaxAttempts')) (task.restart ??= {}).max_attempts = parseUint(str(o.restartMaxAttempts) ?? '', '--restart-max-attempts');

  if (given(o, 'replicasMaxPerNode')) (task.placement ??= {}).max_replicas = parseUint(str(o.replicasMaxPerNode) ?? '', '--replicas-max-per-node');
}

/** The flags' mode and replica settings, checked as docker's ToServiceMode does. */
function modeFlags(o: Opts, mode: Mode): void {
  if (given(o, 'replicas') && (mode === 'global' || mode === 'global_job')) {
    throw new UsageError('replicas can only be used with replicated or replicated-job mode');
  }
  if (given(o, 'maxConcurrent') && mode !== 'replicated_job') throw new UsageError('max-concurrent can only be used with replicated-job mode');
  if (given(o, 'replicasMaxPerNode') && (mode === 'global' || mode === 'global_job')) {
    throw new UsageError('replicas-max-per-node can only be used with replicated or replicated-job mode');
  }
}

/**
 * `service create [OPTIONS] IMAGE [COMMAND] [ARG...]` → a ServiceSpec.
 * Throws UsageError for bad flags.
 */
export function buildServiceSpec(args: string[], o: Opts, env: Record<string, string | undefined>): ServiceSpec {
  const [image = '', ...command] = args;
  const mode = parseMode(str(o.mode));
  modeFlags(o, mode);
  const spec: ServiceSpec = {
    annotations: { name: str(o.name) ?? '', labels: keyValues(o.label, '-l, --label') },
    task: { container: { image, args: command, labels: keyValues(o.containerLabel, '--container-label') } },
  };
  const replicas = given(o, 'replicas') ? parseUint(str(o.replicas) ?? '', '--replicas') : undefined;
  switch (mode) {
    case 'replicated':
      spec.replicated = { replicas: replicas ?? 1 };
      break;
    case 'global':
      spec.global = {};
      break;
    case 'replicated_job': {
      const total = replicas ?? 1;
      const max = given(o, 'maxConcurrent') ? parseUint(str(o.maxConcurrent) ?? '', '--max-concurrent') : total;
      spec.replicated_job = { total_completions: total, max_concurrent: max };
      break;
    }
    case 'global_job':
      spec.global_job = {};
      break;
  }
  applyCommon(spec, o);
  const task = spec.task as TaskSpec;
  const c = task.container as TaskContainerSpec;
  const envList: string[] = [];
  for (const f of list(o.envFile)) envList.push(...readKeyValueFile(f, env));
  for (const e of list(o.env)) {
    const v = resolveEnvFlag(e, env);
    if (v !== undefined) envList.push(v);
  }
  c.env = envList;
  c.mounts = list(o.mount).map(parseTaskMount);
  const constraints = list(o.constraint);
  const prefs = list(o.placementPref).map(parsePlacementPref);
  if (constraints.length > 0 || prefs.length > 0) task.placement = { ...task.placement, constraints, preferences: prefs };
  const ports = list(o.publish).map(parsePublishSpec);
  if (ports.length > 0) spec.endpoint = { ports };
  const networks = list(o.network);
  if (networks.length > 0) task.networks = networks.map((target) => ({ target }));
  return spec;
}

const removeKeys = (labels: Record<string, string> | null | undefined, keys: string[]): Record<string, string> => {
  const out = { ...(labels ?? {}) };
  for (const k of keys) delete out[k.includes('=') ? k.slice(0, k.indexOf('=')) : k];
  return out;
};

const portKey = (p: PortConfig): string => `${p.published_port ?? 0}/${String(p.protocol ?? 'TCP').toLowerCase()}`;

/**
 * `service update` flags applied to a copy of the current spec.
 * Throws UsageError for a bad flag or one the service's mode does not take.
 */
export function applyServiceUpdate(current: ServiceSpec, o: Opts, env: Record<string, string | undefined>): ServiceSpec {
  const spec = structuredClone(current);
  const mode = modeOf(spec) ?? 'replicated';
  modeFlags(o, mode);
  if (given(o, 'replicas')) {
    const n = parseUint(str(o.replicas) ?? '', '--replicas');
    if (mode === 'replicated') spec.replicated = { ...spec.replicated, replicas: n };
    else spec.replicated_job = { ...spec.replicated_job, total_completions: n };
  }
  if (given(o, 'maxConcurrent')) spec.replicated_job = { ...spec.replicated_job, max_concurrent: parseUint(str(o.maxConcurrent) ?? '', '--max-concurrent') };
  applyCommon(spec, o);
  const task = spec.task as TaskSpec;
  const c = task.container as TaskContainerSpec;
  if (given(o, 'image')) c.image = str(o.image) ?? '';
  if (given(o, 'args')) c.args = entrypoint(str(o.args) ?? '');

  const ann = (spec.annotations ??= {});
  ann.labels = { ...removeKeys(ann.labels, list(o.labelRm)), ...keyValues(o.labelAdd, '--label-add') };
  c.labels = { ...removeKeys(c.labels, list(o.containerLabelRm)), ...keyValues(o.containerLabelAdd, '--container-label-add') };

  if (given(o, 'envAdd') || given(o, 'envRm')) {
    const rm = new Set(list(o.envRm).map((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e)));
    const adds = list(o.envAdd).map((e) => resolveEnvFlag(e, env)).filter((e): e is string => e !== undefined);
    const addKeys = new Set(adds.map((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e)));
    const keep = (c.env ?? []).filter((e) => {
      const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
      return !rm.has(k) && !addKeys.has(k);
    });
    c.env = [...keep, ...adds];
  }

  if (given(o, 'constraintAdd') || given(o, 'constraintRm')) {
    const placement = (task.placement ??= {});
    const rm = new Set(list(o.constraintRm));
    const kept = (placement.constraints ?? []).filter((x) => !rm.has(x));
    placement.constraints = [...kept, ...list(o.constraintAdd).filter((x) => !kept.includes(x))];
  }
  if (given(o, 'placementPrefAdd') || given(o, 'placementPrefRm')) {
    const placement = (task.placement ??= {});
    const rm = new Set(list(o.placementPrefRm).map((p) => parsePlacementPref(p).spread.spread_descriptor));
    const kept = (placement.preferences ?? []).filter((p) => !rm.has(p?.spread?.spread_descriptor ?? ''));
    placement.preferences = [...kept, ...list(o.placementPrefAdd).map(parsePlacementPref)];
  }
  if (given(o, 'mountAdd') || given(o, 'mountRm')) {
    const rm = new Set(list(o.mountRm));
    const adds = list(o.mountAdd).map(parseTaskMount);
    const addTargets = new Set(adds.map((m) => m.target));
    c.mounts = [...(c.mounts ?? []).filter((m) => !rm.has(m.target ?? '') && !addTargets.has(m.target ?? '')), ...adds];
  }
  if (given(o, 'publishAdd') || given(o, 'publishRm')) {
    const endpoint = (spec.endpoint ??= {});
    const rm = list(o.publishRm);
    const adds = list(o.publishAdd).map(parsePublishSpec);
    const addKeys = new Set(adds.map(portKey));
    const removed = (p: PortConfig): boolean =>
      rm.some((r) => {
        const [port = '', proto = 'tcp'] = r.includes('=') ? [/target=(\d+)/.exec(r)?.[1] ?? '', /protocol=(\w+)/.exec(r)?.[1] ?? 'tcp'] : r.split(':').pop()!.split('/');
        return String(p.target_port) === port && String(p.protocol ?? 'TCP').toLowerCase() === proto.toLowerCase();
      });
    endpoint.ports = [...(endpoint.ports ?? []).filter((p) => !removed(p) && !addKeys.has(portKey(p))), ...adds];
  }
  if (given(o, 'networkAdd') || given(o, 'networkRm')) {
    const rm = new Set(list(o.networkRm));
    task.networks = [...(task.networks ?? []).filter((n) => !rm.has(n.target ?? '')), ...list(o.networkAdd).map((target) => ({ target }))];
  }
  if (o.force) task.force_update = Number(task.force_update ?? 0) + 1;
  return spec;
}
