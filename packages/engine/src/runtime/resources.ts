// Docker-style resource limits validated and turned into OCI
// `linux.resources`. The rules and messages follow dockerd's, so a user sees
// the same refusal for the same flags.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { invalidArgument } from '@shoal/api';
import type { OciResources } from './oci.js';

/** Docker's resource settings (all optional; 0/undefined = not set). */
export interface ResourcesInput {
  /** Bytes; 0 = unlimited. */
  memory?: number;
  /** Memory + swap in bytes; -1 = unlimited swap; 0 = default (twice memory). */
  memorySwap?: number;
  /** Soft limit in bytes. */
  memoryReservation?: number;
  /** 1e9 = one CPU. */
  nanoCpus?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  /** A CPU list like "0-2,4". */
  cpusetCpus?: string;
  /** > 0 limits; <= 0 = unlimited. */
  pidsLimit?: number;
  /** 10..1000; 0 = unset. */
  blkioWeight?: number;
}

export interface ResourcesOptions {
  /** The CPUs containers may use, as a list ("0-1"); read from the host when omitted. */
  availableCpus?: string;
  /** Whether the kernel accounts swap (cgroup v1 memory.memsw.*); probed when omitted. */
  swapSupported?: boolean;
  /**
   * For `update`: only convert what is given and never apply the
   * "swap defaults to twice memory" rule.
   */
  partial?: boolean;
}

export interface ResourcesResult {
  resources: OciResources;
  /** Things the user should know but that do not fail the request. */
  warnings: string[];
}

/** Docker refuses limits under 6 MiB: the runtime itself would not fit. */
export const MIN_MEMORY = 6 * 1024 * 1024;
export const CPU_PERIOD = 100_000;

/** Parses a CPU list ("0-2,4") into a sorted set. Throws InvalidArgument when malformed. */
export function parseCpuList(list: string): number[] {
  const out = new Set<number>();
  const text = list.trim();
  if (text === '') return [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw invalidArgument(`invalid value for --cpuset-cpus: '${list}'; use a CPU list such as 0-2,4.`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw invalidArgument(`invalid value for --cpuset-cpus: '${list}'; a range must go upwards, e.g. 0-3.`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

function readFirst(paths: string[]): string | undefined {
  for (const p of paths) {
    try {
      const v = readFileSync(p, 'utf8').trim();
      if (v !== '') return v;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** The CPUs this host lets containers use, as a CPU list. */
export function hostAvailableCpus(): string {
  return (
    readFirst([
      '/sys/fs/cgroup/cpuset/cpuset.effective_cpus',
      '/sys/fs/cgroup/cpuset/cpuset.cpus',
      '/sys/fs/cgroup/cpuset.cpus.effective',
      '/sys/devices/system/cpu/online',
    ]) ?? `0-${availableParallelism() - 1}`
  );
}

/** Whether memory+swap limits can be set (cgroup v2 always; v1 needs swap accounting). */
export function hostSwapSupported(): boolean {
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    return existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  }
  return true;
}

const fmtCpus = (n: number): string => n.toFixed(2);

/**
 * Validates docker-style resources and converts them to OCI `linux.resources`.
 * Throws InvalidArgument with dockerd's explanation when a setting is out of
 * range or contradicts another (e.g. memory-swap below memory).
 */
export function toOciResources(input: ResourcesInput, options: ResourcesOptions = {}): ResourcesResult {
  const warnings: string[] = [];
  const out: OciResources = {};
  const memory = input.memory ?? 0;
  const swap = input.memorySwap ?? 0;
  const reservation = input.memoryReservation ?? 0;

  if (memory < 0) throw invalidArgument('invalid memory limit: it must not be negative; use 0 for no limit.');
  if (memory > 0 && memory < MIN_MEMORY) {
    throw invalidArgument('Minimum memory limit allowed is 6MB; raise --memory.');
  }
  if (swap < -1) throw invalidArgument('invalid --memory-swap: use -1 for unlimited swap or a size at least --memory.');
  if (swap > 0 && memory === 0 && !options.partial) {
    throw invalidArgument('You should always set the Memory limit when using Memoryswap limit; add --memory.');
  }
  if (swap > 0 && memory > 0 && swap < memory) {
    throw invalidArgument('Minimum memoryswap limit should be larger than memory limit; set --memory-swap to at least --memory, or -1.');
  }
  if (reservation < 0) throw invalidArgument('invalid --memory-reservation: it must not be negative.');
  if (reservation > 0 && reservation < MIN_MEMORY) {
    throw invalidArgument('Minimum memory reservation allowed is 6MB; raise --memory-reservation.');
  }
  if (memory > 0 && reservation > memory) {
    throw invalidArgument('Minimum memory limit can not be less than memory reservation limit; lower --memory-reservation or raise --memory.');
  }
  if (memory > 0 || swap !== 0 || reservation > 0) {
    const mem: NonNullable<OciResources['memory']> = {};
    if (memory > 0) mem.limit = memory;
    if (reservation > 0) mem.reservation = reservation;
    const swapSupported = options.swapSupported ?? hostSwapSupported();
    if (swap !== 0 || (memory > 0 && !options.partial)) {
      if (!swapSupported) {
        if (swap !== 0) warnings.push('Your kernel does not support swap limit capabilities; --memory-swap was discarded.');
      } else if (swap === -1) {
        mem.swap = -1;
      } else if (swap > 0) {
        mem.swap = swap;
      } else {
        // Docker's default: as much swap as memory (memory+swap = 2 x memory).
        mem.swap = memory * 2;
      }
    }
    out.memory = mem;
  }

  const nano = input.nanoCpus ?? 0;
  const period = input.cpuPeriod ?? 0;
  const quota = input.cpuQuota ?? 0;
  const shares = input.cpuShares ?? 0;
  const availableText = options.availableCpus ?? hostAvailableCpus();
  const available = parseCpuList(availableText);
  const ncpu = Math.max(available.length, 1);
  if (nano < 0) throw invalidArgument('invalid --cpus: it must be a positive number of CPUs such as 1.5.');
  if (nano > 0 && (period > 0 || quota > 0)) {
    throw invalidArgument('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set; use either --cpus or --cpu-period/--cpu-quota.');
  }
  if (nano > 0 && (nano < 0.01e9 || nano > ncpu * 1e9)) {
    throw invalidArgument(`Range of CPUs is from 0.01 to ${fmtCpus(ncpu)}, as there are only ${ncpu} CPUs available; lower --cpus.`);
  }
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw invalidArgument('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000).');
  }
  if (quota !== 0 && quota !== -1 && quota < 1000) {
    throw invalidArgument('CPU cfs quota can not be less than 1ms (i.e. 1000).');
  }
  if (shares < 0) throw invalidArgument('invalid --cpu-shares: it must not be negative.');
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (nano > 0) {
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.round((nano * CPU_PERIOD) / 1e9);
  }
  if (period > 0) cpu.period = period;
  if (quota !== 0) cpu.quota = quota;
  if (shares > 0) {
    // The kernel clamps shares to [2, 262144]; say so rather than silently differ.
    let s = shares;
    if (s < 2) {
      warnings.push('Your kernel does not support CPU shares below 2; the minimum of 2 is used.');
      s = 2;
    } else if (s > 262144) {
      warnings.push('Your kernel does not support CPU shares above 262144; the maximum of 262144 is used.');
      s = 262144;
    }
    cpu.shares = s;
  }
  if (input.cpusetCpus !== undefined && input.cpusetCpus.trim() !== '') {
    const wanted = parseCpuList(input.cpusetCpus);
    const have = new Set(available);
    if (wanted.some((c) => !have.has(c))) {
      throw invalidArgument(`Requested CPUs are not available - requested ${input.cpusetCpus.trim()}, available: ${availableText}.`);
    }
    cpu.cpus = input.cpusetCpus.trim();
  }
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (input.pidsLimit !== undefined && input.pidsLimit !== 0) {
    out.pids = { limit: input.pidsLimit > 0 ? input.pidsLimit : -1 };
  }
  const weight = input.blkioWeight ?? 0;
  if (weight !== 0) {
    if (weight < 10 || weight > 1000) throw invalidArgument('Range of blkio weight is from 10 to 1000; change --blkio-weight.');
    out.blockIO = { weight };
  }
  return { resources: out, warnings };
}
