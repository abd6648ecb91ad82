import { readFileSync } from 'node:fs';
import { invalidArgument } from '@shoal/api';

/** Every Linux capability, in kernel number order (CAP_CHOWN = 0). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set for a container that is not privileged. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

let hostCaps: readonly string[] | undefined;

/**
 * The capabilities a container can be given here: those the kernel knows (up
 * to /proc/sys/kernel/cap_last_cap) and that this process still holds in its
 * bounding set (a sandboxed host may withhold some, e.g. CAP_SYS_RESOURCE).
 * Asking runc for one outside that fails the start, so "ALL" and --privileged
 * mean "all the host can give", as in Docker.
 */
export function hostCapabilities(): readonly string[] {
  if (hostCaps) return hostCaps;
  let last = ALL_CAPABILITIES.length - 1;
  let bounding: bigint | undefined;
  try {
    const n = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    if (Number.isInteger(n) && n >= 0) last = Math.min(n, last);
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) bounding = BigInt(`0x${m[1]}`);
  } catch {
    // Not Linux or /proc hidden: assume the full list.
  }
  hostCaps = ALL_CAPABILITIES.slice(0, last + 1).filter((_c, i) => bounding === undefined || ((bounding >> BigInt(i)) & 1n) === 1n);
  return hostCaps;
}

/**
 * Normalises a user-given capability name ("net_admin", "CAP_NET_ADMIN", "ALL").
 * Throws InvalidArgument for a name that is not a Linux capability.
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) {
    throw invalidArgument(`unknown capability: ${full}; see capabilities(7) for the valid names.`);
  }
  return full;
}

export interface CapabilitiesOptions {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
}

/**
 * Docker's capability arithmetic: start from the default set (or every host
 * capability when privileged), add `capAdd` ("ALL" adds all), then remove
 * `capDrop` ("ALL" drops all, after which only explicitly added ones remain).
 * Returns names sorted by capability number.
 * Throws InvalidArgument for an unknown capability name.
 */
export function effectiveCapabilities(options: CapabilitiesOptions): string[] {
  const host = hostCapabilities();
  const adds = (options.capAdd ?? []).map(normalizeCapability);
  const drops = (options.capDrop ?? []).map(normalizeCapability);
  if (options.privileged) return [...host];
  const addAll = adds.includes('ALL');
  const dropAll = drops.includes('ALL');
  let set = new Set<string>(DEFAULT_CAPABILITIES);
  if (dropAll) set = new Set();
  if (addAll) {
    // As Docker: --cap-add ALL means every host capability minus the ones
    // dropped by name, whatever else was said.
    set = new Set(host);
    for (const d of drops) if (d !== 'ALL') set.delete(d);
    return order(set);
  }
  for (const d of drops) set.delete(d);
  for (const a of adds) set.add(a);
  return order(set);
}

function order(set: Set<string>): string[] {
  return ALL_CAPABILITIES.filter((c) => set.has(c));
}
