// Builds a runc config.json (OCI runtime spec 1.0.2) with Docker's defaults:
// its capability set, seccomp profile, masked and read-only kernel paths,
// device allowlist and standard mounts.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { invalidArgument, ULIMIT_NAMES, type UlimitValue } from '@shoal/api';
import { cgroupMode, type CgroupMode } from '../cgroups/mode.js';
import { effectiveCapabilities } from './capabilities.js';
import {
  RLIM_INFINITY,
  type OciDevice,
  type OciDeviceCgroup,
  type OciMount,
  type OciNamespace,
  type OciResources,
  type OciRlimit,
  type OciSeccomp,
  type OciSpec,
} from './oci.js';
import { toOciResources, type ResourcesInput, type ResourcesOptions } from './resources.js';
import { defaultSeccomp, seccompFromDockerJson } from './seccomp.js';

export type NetworkMode = 'none' | 'host' | { netnsPath: string };

export interface SpecInput {
  id: string;
  /** Absolute host path of the container's root filesystem. */
  rootfsPath: string;
  readonlyRootfs?: boolean;
  args: string[];
  env: string[];
  /** Defaults to "/". */
  cwd?: string;
  user: { uid: number; gid: number; additionalGids?: number[]; home?: string };
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  hostname?: string;
  domainname?: string;
  networkMode: NetworkMode;
  /** Docker-style settings, validated and converted here. */
  resources?: ResourcesInput;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  /** 'default' (Docker's profile), 'unconfined', or a Docker-format profile as JSON text. */
  seccomp?: 'default' | 'unconfined' | { profileJson: string };
  /** `--security-opt systempaths=unconfined`: no masked/read-only paths. */
  unmaskSystemPaths?: boolean;
  /** `--tmpfs`: container path to mount options ("size=64m,mode=1777"). */
  tmpfs?: Record<string, string>;
  /** Extra OCI mounts (binds for /etc/hosts, /etc/resolv.conf, /etc/hostname, volumes). */
  mounts?: OciMount[];
  /** runc's cgroupfs path, e.g. "/shoal/<id>". */
  cgroupsPath: string;
  ulimits?: UlimitValue[];
  oomScoreAdj?: number;
  /** Host path of a static init (tini-static) for `--init`. */
  init?: string;
  /** /dev/shm size in bytes; 64 MiB by default. */
  shmSize?: number;
  annotations?: Record<string, string>;
}

export interface BuildSpecOptions extends Omit<ResourcesOptions, 'partial'> {
  /** Collects warnings (e.g. ignored settings). */
  warnings?: string[];
  /** Defaults to the host's. */
  cgroupMode?: CgroupMode;
}

/** Where `--init` puts the init binary inside the container, as Docker does. */
export const INIT_PATH = '/sbin/docker-init';
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Kernel interfaces hidden from unprivileged containers (Docker's list). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Kernel interfaces unprivileged containers may read but not write (Docker's list). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

const dev = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access = 'rwm'): OciDeviceCgroup => {
  const r: OciDeviceCgroup = { allow: true, type, access };
  if (major !== undefined) r.major = major;
  if (minor !== undefined) r.minor = minor;
  return r;
};

/** The device cgroup rules of an unprivileged Docker container: deny all, then the safe ones. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  dev('c', undefined, undefined, 'm'), // mknod of any char device (using it stays denied)
  dev('b', undefined, undefined, 'm'), // mknod of any block device
  dev('c', 1, 3), // /dev/null
  dev('c', 1, 5), // /dev/zero
  dev('c', 1, 7), // /dev/full
  dev('c', 1, 8), // /dev/random
  dev('c', 1, 9), // /dev/urandom
  dev('c', 5, 0), // /dev/tty
  dev('c', 5, 1), // /dev/console
  dev('c', 5, 2), // /dev/ptmx
  dev('c', 136, undefined), // /dev/pts/*
  dev('c', 10, 200), // /dev/net/tun
];

function defaultMounts(privileged: boolean, shmSize: number): OciMount[] {
  const ro = privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      // runc mounts the v1 controllers or the v2 tree, whichever the host has.
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ...ro],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
}

// Docker's --tmpfs defaults; a user option overrides its opposite.
const TMPFS_PAIRS: Record<string, string> = {
  exec: 'noexec',
  noexec: 'exec',
  suid: 'nosuid',
  nosuid: 'suid',
  dev: 'nodev',
  nodev: 'dev',
};

/**
 * Turns a `--tmpfs` destination and option string into an OCI mount with
 * Docker's defaults (noexec, nosuid, nodev) unless the options say otherwise.
 * Throws InvalidArgument for a relative path or an empty option.
 */
export function tmpfsMount(destination: string, options: string): OciMount {
  if (!destination.startsWith('/')) {
    throw invalidArgument(`invalid mount path for --tmpfs: '${destination}'; the path must be absolute.`);
  }
  const user = options
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  const opts = ['noexec', 'nosuid', 'nodev'].filter((d) => !user.some((u) => TMPFS_PAIRS[u] === d || u === d));
  return { destination: cleanDest(destination), type: 'tmpfs', source: 'tmpfs', options: [...opts, ...user] };
}

function rlimits(ulimits: readonly UlimitValue[]): OciRlimit[] {
  // No default: like dockerd's containers, they inherit the daemon's limits
  // (raising a hard limit needs CAP_SYS_RESOURCE, which a host may withhold).
  const out = new Map<string, OciRlimit>();
  const lim = (v: number): number | bigint => (v < 0 ? RLIM_INFINITY : v);
  for (const u of ulimits) {
    const type = ULIMIT_NAMES[u.name];
    if (!type) throw invalidArgument(`invalid ulimit type: ${u.name}; use one of ${Object.keys(ULIMIT_NAMES).join(', ')}.`);
    out.set(type, { type, soft: lim(u.soft), hard: lim(u.hard) });
  }
  return [...out.values()];
}

function majorMinor(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** Every device node under /dev, as a privileged Docker container gets them. */
export function hostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const skip = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      let st;
      try {
        st = statSync(p, { bigint: true, throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) {
        if (!skip.has(name)) walk(p);
        continue;
      }
      if (p === '/dev/console') continue;
      const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
      if (!type) continue;
      const { major, minor } = majorMinor(st.rdev);
      out.push({ type, path: p, major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) });
    }
  };
  walk(root);
  return out;
}

function namespaces(network: NetworkMode, mode: CgroupMode): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (network === 'none') ns.push({ type: 'network' });
  else if (typeof network === 'object') ns.push({ type: 'network', path: network.netnsPath });
  // Docker gives a private cgroup namespace only on cgroup v2.
  if (mode === 'v2') ns.push({ type: 'cgroup' });
  return ns;
}

function withDefaultEnv(input: SpecInput): string[] {
  const env = [...input.env];
  const has = (k: string): boolean => env.some((e) => e.startsWith(`${k}=`));
  const pre: string[] = [];
  if (!has('PATH')) pre.push(DEFAULT_PATH_ENV);
  if (!has('HOSTNAME') && input.hostname) pre.push(`HOSTNAME=${input.hostname}`);
  if (!has('TERM') && input.terminal) pre.push('TERM=xterm');
  if (!has('HOME')) pre.push(`HOME=${input.user.home ?? '/'}`);
  return [...pre, ...env];
}

/** A container path in canonical form: normalised, no trailing slash. */
function cleanDest(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Sorts mounts so a parent is mounted before anything inside it (as Docker does). */
function sortMounts(mounts: OciMount[]): OciMount[] {
  const depth = (m: OciMount): number => cleanDest(m.destination).split('/').filter(Boolean).length;
  return mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i)
    .map((x) => x.m);
}

/**
 * Builds the OCI spec for a container.
 * Throws InvalidArgument for an unknown capability, a bad resource setting,
 * a bad ulimit, a relative tmpfs path, a mount over the same path twice, or a
 * seccomp profile that cannot be parsed.
 */
export function buildSpec(input: SpecInput, options: BuildSpecOptions = {}): OciSpec {
  if (input.args.length === 0) throw invalidArgument('no command specified; give a command or use an image with one.');
  const mode = options.cgroupMode ?? cgroupMode();
  const privileged = input.privileged ?? false;
  const caps = effectiveCapabilities({ capAdd: input.capAdd ?? [], capDrop: input.capDrop ?? [], privileged });

  let args = [...input.args];
  const userMounts: OciMount[] = [];
  for (const [dest, opts] of Object.entries(input.tmpfs ?? {})) userMounts.push(tmpfsMount(dest, opts));
  userMounts.push(...(input.mounts ?? []).map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })));
  if (input.init) {
    args = [INIT_PATH, '--', ...args];
    userMounts.push({ destination: INIT_PATH, type: 'bind', source: input.init, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  const seen = new Set<string>();
  for (const m of userMounts) {
    const d = cleanDest(m.destination);
    m.destination = d;
    if (seen.has(d)) throw invalidArgument(`Duplicate mount point: ${d}; mount each container path once.`);
    seen.add(d);
  }
  // A user mount replaces a default one at the same place (e.g. --tmpfs /dev/shm).
  const defaults = defaultMounts(privileged, input.shmSize ?? DEFAULT_SHM_SIZE).filter(
    (m) => !seen.has(m.destination),
  );

  const { resources: converted, warnings } = toOciResources(input.resources ?? {}, options);
  options.warnings?.push(...warnings);
  const resources: OciResources = { ...converted };
  resources.devices = privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((d) => ({ ...d }));

  let seccomp: OciSeccomp | undefined;
  const sc = input.seccomp ?? 'default';
  if (!privileged && sc !== 'unconfined') {
    seccomp = sc === 'default' ? defaultSeccomp(caps) : seccompFromDockerJson(sc.profileJson, caps);
  }

  const isRoot = input.user.uid === 0;
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal ?? false,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids && input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
      },
      args,
      env: withDefaultEnv(input),
      cwd: input.cwd && input.cwd !== '' ? input.cwd : '/',
      // As Docker: no inheritable set (CVE-2022-24769), and a non-root user
      // starts with empty effective/permitted sets, as execve would leave them.
      capabilities: isRoot ? { bounding: caps, effective: [...caps], permitted: [...caps] } : { bounding: caps },
      rlimits: rlimits(input.ulimits ?? []),
      noNewPrivileges: input.noNewPrivileges ?? false,
    },
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs ?? false },
    mounts: sortMounts([...defaults, ...userMounts]),
    linux: {
      namespaces: namespaces(input.networkMode, mode),
      cgroupsPath: input.cgroupsPath,
      resources,
    },
  };
  if (input.terminal && input.consoleSize) spec.process.consoleSize = { ...input.consoleSize };
  if (input.oomScoreAdj !== undefined) {
    if (input.oomScoreAdj < -1000 || input.oomScoreAdj > 1000) {
      throw invalidArgument(`Invalid value ${input.oomScoreAdj}, range for oom score adj is [-1000, 1000].`);
    }
    spec.process.oomScoreAdj = input.oomScoreAdj;
  }
  if (input.hostname) spec.hostname = input.hostname;
  if (input.domainname) spec.domainname = input.domainname;
  if (seccomp) spec.linux.seccomp = seccomp;
  if (!privileged && !input.unmaskSystemPaths) {
    spec.linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    spec.linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  }
  if (privileged) spec.linux.devices = hostDevices();
  if (input.networkMode !== 'host') {
    // Docker 20.10+: in a private network namespace, binding low ports and
    // ICMP echo sockets need no capability (the namespace is the boundary).
    spec.linux.sysctl = {
      'net.ipv4.ip_unprivileged_port_start': '0',
      'net.ipv4.ping_group_range': '0 2147483647',
    };
  }
  if (input.annotations && Object.keys(input.annotations).length > 0) spec.annotations = { ...input.annotations };
  return spec;
}
