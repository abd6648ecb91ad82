// Maps `shoal run` / `shoal create` flags to a CreateContainerRequest, validating
// values where docker's CLI does, with docker's wording.
import type { ContainerSpec, CreateContainerRequest, Resources, RestartPolicy } from '@shoal/api';
import { parseBytes, parseCpus, parseMemorySwap, parseSignal, parseUlimit } from '@shoal/api/units';
import { invalidFlag, UsageError } from '../cli-error.js';
import { readKeyValueFile, resolveEnvFlag } from '../parse/env-file.js';
import { parseMount, validateBind, validateVolumesFrom } from './mounts.js';
import { parseExpose, parsePublish, validateDns, validateExtraHost, validateIpv4, validateLink } from './ports.js';

/** The flags of `run`/`create` as commander hands them over (camelCased long names). */
export interface RunFlags {
  detach?: boolean;
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  domainname?: string;
  label?: string[];
  labelFile?: string[];
  restart?: string;
  init?: boolean;
  stopSignal?: string;
  stopTimeout?: string;
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  ulimit?: string[];
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  readOnly?: boolean;
  tmpfs?: string[];
  network?: string;
  networkAlias?: string[];
  netAlias?: string[];
  ip?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  dnsOpt?: string[];
  addHost?: string[];
  link?: string[];
  expose?: string[];
  publish?: string[];
  publishAll?: boolean;
  volume?: string[];
  mount?: string[];
  volumesFrom?: string[];
  volumeDriver?: string;
  logDriver?: string;
  logOpt?: string[];
}

function int(value: string, flag: string, min = -Infinity): number {
  if (!/^[-+]?\d+$/.test(value.trim())) throw invalidFlag(value, flag, `strconv.ParseInt: parsing "${value}": invalid syntax`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalidFlag(value, flag, `strconv.ParseInt: parsing "${value}": value out of range`);
  if (n < min) throw invalidFlag(value, flag, `the value must be at least ${min}`);
  return n;
}

/** Runs a parser from @shoal/api/units and rewrites its error as docker's flag error. */
function parsed<T>(value: string, flag: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw invalidFlag(value, flag, (err as Error).message);
  }
}

/**
 * Parses `--restart`: no | always | unless-stopped | on-failure[:N].
 * Throws UsageError for anything else.
 */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name = '', count, ...rest] = value.split(':');
  const bad = (why: string): UsageError => invalidFlag(value, '--restart', why);
  if (rest.length > 0) throw bad(`invalid restart policy format: use no, always, unless-stopped or on-failure[:max-retries]`);
  if (name === '' && count !== undefined) throw bad('invalid restart policy format: no policy provided before colon');
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) throw bad(`maximum retry count cannot be used with restart policy '${name}'`);
      return { name: name === '' ? 'no' : name, maximum_retry_count: 0 };
    case 'on-failure': {
      if (count === undefined) return { name, maximum_retry_count: 0 };
      if (!/^\d+$/.test(count)) throw bad('maximum retry count must be an integer');
      return { name, maximum_retry_count: Number(count) };
    }
    default:
      throw bad(`invalid restart policy '${name}'; use no, always, unless-stopped or on-failure[:max-retries]`);
  }
}

const CPUSET_RE = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The resource flags shared by run, create and update; `set` lists the Resources fields given. */
export function buildResources(flags: RunFlags): { resources: Resources; set: string[] } {
  const r: Resources = {};
  const set: string[] = [];
  const put = <K extends keyof Resources>(key: K, v: Resources[K]): void => {
    r[key] = v;
    set.push(key);
  };
  if (flags.memory !== undefined) put('memory', parsed(flags.memory, '-m, --memory', parseBytes));
  if (flags.memorySwap !== undefined) put('memory_swap', parsed(flags.memorySwap, '--memory-swap', parseMemorySwap));
  if (flags.memoryReservation !== undefined) {
    put('memory_reservation', parsed(flags.memoryReservation, '--memory-reservation', parseBytes));
  }
  if (flags.cpus !== undefined) {
    const nano = parsed(flags.cpus, '--cpus', parseCpus);
    if (nano === 0 && flags.cpus.trim() !== '0') throw invalidFlag(flags.cpus, '--cpus', 'the number of CPUs is too small');
    put('nano_cpus', nano);
  }
  if (flags.cpuShares !== undefined) put('cpu_shares', int(flags.cpuShares, '-c, --cpu-shares', 0));
  if (flags.cpuPeriod !== undefined) put('cpu_period', int(flags.cpuPeriod, '--cpu-period', 0));
  if (flags.cpuQuota !== undefined) put('cpu_quota', int(flags.cpuQuota, '--cpu-quota'));
  if (flags.cpusetCpus !== undefined) {
    if (!CPUSET_RE.test(flags.cpusetCpus)) {
      throw invalidFlag(flags.cpusetCpus, '--cpuset-cpus', 'use a list of CPUs such as 0-3 or 0,2');
    }
    put('cpuset_cpus', flags.cpusetCpus);
  }
  if (flags.pidsLimit !== undefined) put('pids_limit', int(flags.pidsLimit, '--pids-limit'));
  if (flags.ulimit !== undefined && flags.ulimit.length > 0) {
    const seen = new Map<string, { name: string; soft: number; hard: number }>();
    for (const u of flags.ulimit) {
      const v = parsed(u, '--ulimit', parseUlimit);
      seen.set(v.name, v);
    }
    put('ulimits', [...seen.values()]);
  }
  if (r.nano_cpus !== undefined && (r.cpu_period !== undefined || r.cpu_quota !== undefined)) {
    throw new UsageError('Conflicting options: Nano CPUs and CPU Period cannot both be set; use either --cpus or --cpu-period/--cpu-quota');
  }
  return { resources: r, set };
}

function keyValues(values: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    if (eq === 0) throw invalidFlag(v, flag, 'the key must not be empty');
    if (eq < 0) out[v] = '';
    else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/**
 * Builds the Create request for `run`/`create` from the image, the command words after it,
 * the flags and the client environment (for `-e NAME` and env files).
 * Throws UsageError (exit 125) for a bad flag value, with docker's wording.
 */
export function buildCreateRequest(
  image: string,
  command: string[],
  flags: RunFlags,
  env: Record<string, string | undefined>,
): CreateContainerRequest {
  if (image === '') throw new UsageError('invalid reference format: the image name is empty');
  const spec: ContainerSpec = { image, cmd: command };

  // Env files come first so -e overrides them, as in docker.
  const envs: string[] = [];
  for (const f of flags.envFile ?? []) envs.push(...readKeyValueFile(f, env));
  for (const e of flags.env ?? []) {
    if (e === '' || e.startsWith('=')) throw invalidFlag(e, '-e, --env', 'invalid environment variable: the name is empty');
    const r = resolveEnvFlag(e, env);
    if (r !== undefined) envs.push(r);
  }
  spec.env = envs;

  if (flags.entrypoint !== undefined) {
    spec.entrypoint_set = true;
    spec.entrypoint = flags.entrypoint === '' ? [] : [flags.entrypoint];
  }
  if (flags.workdir !== undefined) {
    if (!flags.workdir.startsWith('/')) {
      throw invalidFlag(flags.workdir, '-w, --workdir', 'the working directory must be an absolute path');
    }
    spec.working_dir = flags.workdir;
  }
  if (flags.user !== undefined) spec.user = flags.user;
  if (flags.hostname !== undefined) {
    // docker splits "host.example.com" into hostname and domainname only when asked; keep it whole.
    spec.hostname = flags.hostname;
  }
  if (flags.domainname !== undefined) spec.domainname = flags.domainname;

  const labelLines: string[] = [];
  for (const f of flags.labelFile ?? []) labelLines.push(...readKeyValueFile(f, {}));
  spec.labels = keyValues([...labelLines, ...(flags.label ?? [])], '-l, --label');

  spec.tty = flags.tty ?? false;
  spec.open_stdin = flags.interactive ?? false;
  spec.stdin_once = (flags.interactive ?? false) && !(flags.detach ?? false);
  if (flags.stopSignal !== undefined) {
    parsed(flags.stopSignal, '--stop-signal', parseSignal);
    spec.stop_signal = flags.stopSignal;
  }
  if (flags.stopTimeout !== undefined) spec.stop_timeout = int(flags.stopTimeout, '--stop-timeout');

  spec.auto_remove = flags.rm ?? false;
  if (flags.restart !== undefined) {
    spec.restart_policy = parseRestartPolicy(flags.restart);
    if (spec.auto_remove && spec.restart_policy.name !== 'no') {
      throw new UsageError('Conflicting options: --restart and --rm');
    }
  }
  spec.init = flags.init ?? false;
  if (flags.network !== undefined) spec.network_mode = flags.network;
  spec.network_aliases = [...(flags.networkAlias ?? []), ...(flags.netAlias ?? [])];
  if (flags.ip !== undefined) spec.ipv4_address = validateIpv4(flags.ip);
  spec.dns = (flags.dns ?? []).map(validateDns);
  spec.dns_search = flags.dnsSearch ?? [];
  spec.dns_options = [...(flags.dnsOption ?? []), ...(flags.dnsOpt ?? [])];
  spec.extra_hosts = (flags.addHost ?? []).map(validateExtraHost);
  spec.links = (flags.link ?? []).map(validateLink);
  spec.expose = (flags.expose ?? []).flatMap(parseExpose);
  spec.port_bindings = (flags.publish ?? []).flatMap(parsePublish);
  spec.publish_all = flags.publishAll ?? false;
  const mode = spec.network_mode ?? '';
  if (mode.startsWith('container:') && (spec.port_bindings.length > 0 || spec.publish_all)) {
    throw new UsageError(`conflicting options: port publishing and the container type network mode "${mode}"`);
  }
  if (mode.startsWith('container:') && (spec.dns.length > 0 || spec.extra_hosts.length > 0 || flags.hostname !== undefined)) {
    throw new UsageError(`conflicting options: --dns, --add-host or --hostname and the network mode "${mode}" (the container shares its network)`);
  }
  spec.binds = (flags.volume ?? []).map(validateBind);
  spec.mounts = (flags.mount ?? []).map(parseMount);
  spec.volumes_from = (flags.volumesFrom ?? []).map(validateVolumesFrom);
  if (flags.volumeDriver !== undefined) spec.volume_driver = flags.volumeDriver;

  spec.resources = buildResources(flags).resources;
  spec.privileged = flags.privileged ?? false;
  spec.cap_add = flags.capAdd ?? [];
  spec.cap_drop = flags.capDrop ?? [];
  spec.security_opt = flags.securityOpt ?? [];
  spec.readonly_rootfs = flags.readOnly ?? false;

  const tmpfs: Record<string, string> = {};
  for (const t of flags.tmpfs ?? []) {
    const colon = t.indexOf(':');
    const path = colon < 0 ? t : t.slice(0, colon);
    if (!path.startsWith('/')) throw invalidFlag(t, '--tmpfs', 'the mount point must be an absolute path');
    tmpfs[path] = colon < 0 ? '' : t.slice(colon + 1);
  }
  spec.tmpfs = tmpfs;

  if (flags.logDriver !== undefined || (flags.logOpt ?? []).length > 0) {
    spec.log_config = { type: flags.logDriver ?? '', config: keyValues(flags.logOpt, '--log-opt') };
    for (const [k, v] of Object.entries(spec.log_config.config ?? {})) {
      if (v === '') throw invalidFlag(k, '--log-opt', 'use key=value');
    }
  }

  const req: CreateContainerRequest = { spec };
  if (flags.name !== undefined) req.name = flags.name;
  return req;
}
