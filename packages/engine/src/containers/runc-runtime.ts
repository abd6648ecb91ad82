import { constants } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { errorMessage, failedPrecondition, invalidArgument, parseUlimit, type Logger } from '@shoal/api';
import { cgroupPaths, removeCgroup } from '../cgroups/paths.js';
import { cgroupStats, systemCpuUsageNs } from '../cgroups/stats.js';
import { ociJson, RLIM_INFINITY, type OciCapabilities, type OciProcess, type OciRlimit } from '../runtime/oci.js';
import { hostCapabilities } from '../runtime/capabilities.js';
import { toOciResources, type ResourcesInput } from '../runtime/resources.js';
import { parseSecurityOpts } from '../runtime/security-opts.js';
import { buildSpec, type SpecInput } from '../runtime/spec.js';
import { resolveUser } from '../runtime/user.js';
import { Runc } from '../runtime/runc.js';
import { attachShim, isShimAlive, readExitFile, waitShimExit, type ShimAttachment } from '../shim/client.js';
import { ShimPool } from '../shim/pool.js';
import type { AttachStreams, ExecOptions, ExecProcess, ExitInfo, ProcessStats, RuntimePort, StartSandbox, StdinHandle } from './ports.js';
import type { ContainerRecord } from './record.js';
import { parseLogSize } from '../logs/log-config.js';

export interface RuncRuntimeOptions {
  /** `<exec-root>/containers`: one bundle + shim directory per container. */
  execRoot: string;
  /** runc's `--root`. */
  runcRoot: string;
  runtime: string;
  cgroupParent: string;
  logger: Logger;
  /** tini-static for --init. */
  initPath?: string;
}

/** The process side of containers: an OCI bundle per container, run by runc under a shim. */
export class RuncRuntime implements RuntimePort {
  private readonly runc: Runc;
  /** Attachments opened at start (foreground run), handed to the first attach call. */
  private readonly pendingAttach = new Map<string, ShimAttachment>();

  /** Standby shims booted ahead of time: Node's start-up is off the container start path. */
  private readonly shims: ShimPool;

  constructor(private readonly o: RuncRuntimeOptions) {
    this.runc = new Runc({ root: o.runcRoot, binary: o.runtime, logger: o.logger });
    this.shims = new ShimPool({ size: 1, logPath: join(o.execRoot, 'shim-standby.log') });
  }

  /** Lets the standby shims go; running containers and their shims are untouched. */
  async close(): Promise<void> {
    await this.shims.close();
  }

  dir(c: ContainerRecord): string {
    return join(this.o.execRoot, c.id);
  }

  cgroupsPath(c: ContainerRecord): string {
    return `/${this.o.cgroupParent.replace(/^\/+/, '')}/${c.id}`;
  }

  async start(c: ContainerRecord, rootfs: string, sandbox: StartSandbox, signal: AbortSignal, attach?: AttachStreams): Promise<{ pid: number }> {
    const t0 = performance.now();
    const user = await resolveUser(rootfs, c.config.user);
    const sec = await parseSecurityOpts(c.spec.security_opt);
    const env = [...c.config.env];
    if (c.spec.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${c.config.hostname}`);
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home || '/'}`);
    const input: SpecInput = {
      id: c.id,
      rootfsPath: rootfs,
      readonlyRootfs: c.spec.readonly_rootfs,
      args: [c.config.path, ...c.config.args],
      env,
      cwd: c.config.workingDir,
      user,
      terminal: c.spec.tty,
      hostname: c.config.hostname,
      domainname: c.config.domainname,
      networkMode: sandbox.network,
      resources: resourcesInput(c),
      privileged: c.spec.privileged,
      capAdd: c.spec.cap_add,
      capDrop: c.spec.cap_drop,
      noNewPrivileges: sec.noNewPrivileges,
      seccomp: sec.seccomp,
      unmaskSystemPaths: sec.unmaskSystemPaths,
      tmpfs: c.spec.tmpfs,
      mounts: [
        { destination: '/etc/hostname', type: 'bind', source: c.hostnamePath, options: ['rbind', 'rprivate'] },
        { destination: '/etc/hosts', type: 'bind', source: c.hostsPath, options: ['rbind', 'rprivate'] },
        { destination: '/etc/resolv.conf', type: 'bind', source: c.resolvConfPath, options: ['rbind', 'rprivate'] },
        ...sandbox.mounts,
      ],
      cgroupsPath: this.cgroupsPath(c),
      ulimits: (c.spec.resources?.ulimits ?? []).map((u) => parseUlimit(`${u.name}=${u.soft}:${u.hard}`)),
      ...(c.spec.init ? { init: this.o.initPath ?? '/usr/bin/tini-static' } : {}),
    };
    const spec = buildSpec(input);
    const dir = this.dir(c);
    // A previous run's shim files (its exit.json above all) must not be
    // mistaken for this run's.
    await this.removeShimState(c);
    await writeFile(join(dir, 'config.json'), ociJson(spec));
    const paths = cgroupPaths(this.cgroupsPath(c));
    const memDir = paths.unified ?? paths.v1.memory;
    const tSpec = performance.now();
    const logCfg = c.spec.log_config;
    const started = await this.shims.start(
      {
        dir,
        id: c.id,
        bundle: dir,
        runtime: this.o.runtime,
        runtimeRoot: this.o.runcRoot,
        tty: c.spec.tty,
        openStdin: c.spec.open_stdin,
        stdinOnce: c.spec.stdin_once,
        log: logCfg?.type === 'none' ? { driver: 'none' } : { driver: 'json-file', path: c.logPath, ...logLimits(logCfg?.config ?? {}) },
        oomCgroupDirs: memDir ? [memDir] : [],
        ...(attach ? { attach } : {}),
      },
      signal,
    );
    const ms = (from: number, to: number): number => Math.round((to - from) * 100) / 100;
    this.o.logger.debug('container process started', { 'container.id': c.id, 'spec.ms': ms(t0, tSpec), 'shim.ms': ms(tSpec, performance.now()) });
    if (started.attachment) this.pendingAttach.set(c.id, started.attachment);
    return { pid: started.pid };
  }

  /** The attachment made when the container started with `attach`, if any. */
  takeStartAttachment(c: ContainerRecord): ShimAttachment | undefined {
    const a = this.pendingAttach.get(c.id);
    this.pendingAttach.delete(c.id);
    return a;
  }

  async attach(c: ContainerRecord, req: { stdin: boolean; stdout: boolean; stderr: boolean }, signal: AbortSignal): Promise<ShimAttachment> {
    return attachShim(this.dir(c), req, signal);
  }

  async waitExit(c: ContainerRecord, signal: AbortSignal): Promise<ExitInfo> {
    return waitShimExit(this.dir(c), signal);
  }

  alive(c: ContainerRecord): Promise<boolean> {
    return isShimAlive(this.dir(c));
  }

  recordedExit(c: ContainerRecord): Promise<ExitInfo | undefined> {
    return readExitFile(this.dir(c));
  }

  async kill(c: ContainerRecord, signal: number, all = false): Promise<void> {
    await this.runc.kill(c.id, signal, { all });
  }

  async pause(c: ContainerRecord): Promise<void> {
    await this.runc.pause(c.id);
  }

  async resume(c: ContainerRecord): Promise<void> {
    await this.runc.resume(c.id);
  }

  async update(c: ContainerRecord): Promise<void> {
    const { resources } = toOciResources(resourcesInput(c), { partial: true });
    await this.runc.update(c.id, resources);
  }

  async pids(c: ContainerRecord): Promise<number[]> {
    return this.runc.ps(c.id);
  }

  async stats(c: ContainerRecord): Promise<ProcessStats> {
    const s = await cgroupStats(this.cgroupsPath(c));
    return {
      cpuTotalNs: BigInt(s.cpu.usageNs),
      systemNs: BigInt(await systemCpuUsageNs()),
      onlineCpus: s.cpu.onlineCpus,
      memoryUsage: s.memory.usage,
      memoryLimit: s.memory.limit,
      pids: s.pids.current,
      blockRead: s.blkio.readBytes,
      blockWrite: s.blkio.writeBytes,
      netRx: netBytes(c.state.pid, 'rx'),
      netTx: netBytes(c.state.pid, 'tx'),
    };
  }

  async exec(c: ContainerRecord, o: ExecOptions, signal: AbortSignal): Promise<ExecProcess> {
    if (c.state.status !== 'running') throw failedPrecondition(`Container ${c.id} is not running`);
    // An exec'd process gets the container's privileges (capabilities, rlimits, no-new-privileges), like docker's.
    const bundle = JSON.parse(await readFile(join(this.dir(c), 'config.json'), 'utf8')) as { process?: Partial<OciProcess> };
    const base = bundle.process ?? {};
    const proc: OciProcess = {
      terminal: o.tty,
      user: { uid: o.user.uid, gid: o.user.gid, additionalGids: o.user.additionalGids },
      args: o.args,
      env: o.env,
      cwd: o.cwd,
      ...(base.capabilities ? { capabilities: o.privileged ? fullCaps(base.capabilities) : base.capabilities } : {}),
      ...(base.rlimits ? { rlimits: base.rlimits.map(fixRlimit) } : {}),
      ...(base.noNewPrivileges !== undefined ? { noNewPrivileges: base.noNewPrivileges } : {}),
    };
    const child = await this.runc.exec(c.id, proc, {
      detach: o.detach,
      signal,
      stdio: [o.stdin && !o.detach ? 'pipe' : 'ignore', o.detach ? 'ignore' : 'pipe', o.detach ? 'ignore' : 'pipe'],
    });
    const stdout = child.stdout ?? new PassThrough().end();
    const stderr = child.stderr ?? new PassThrough().end();
    const exit = new Promise<number>((resolve) => {
      child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + (osSignal(sig) ?? 9) : 255)));
      child.on('error', () => resolve(126));
    });
    return { ...(child.stdin ? { stdin: child.stdin } : {}), stdout, stderr, exit };
  }

  async cleanup(c: ContainerRecord): Promise<void> {
    // The shim deletes the runc container after a normal exit; only a shim
    // that died leaves runc's state behind (runc delete costs ~12 ms).
    if (existsSync(join(this.o.runcRoot, c.id))) await this.runc.delete(c.id, { force: true }).catch(() => undefined);
    await removeCgroup(this.cgroupsPath(c)).catch((err: unknown) =>
      this.o.logger.debug('removing cgroup failed', { 'container.id': c.id, error: errorMessage(err) }),
    );
    await this.removeShimState(c);
  }

  private async removeShimState(c: ContainerRecord): Promise<void> {
    const dir = this.dir(c);
    for (const f of ['shim.json', 'shim.pid', 'init.pid', 'runc.log', 'shim.sock', 'exit.json', 'config.json']) {
      await rm(join(dir, f), { force: true });
    }
  }

  async attachStdin(c: ContainerRecord, signal: AbortSignal): Promise<StdinHandle | undefined> {
    if (!c.spec.open_stdin) return undefined;
    const a = await attachShim(this.dir(c), { stdin: true, stdout: false, stderr: false }, signal);
    return { write: (d) => a.writeStdin(d), close: () => a.closeStdin(), resize: (r, col) => a.resize(r, col), detach: () => a.close() };
  }

  async version(): Promise<string> {
    return this.runc.version().then((v) => v.runc, () => 'unknown');
  }
}

function resourcesInput(c: ContainerRecord): ResourcesInput {
  const r = c.spec.resources;
  if (!r) return {};
  const n = (v: string | undefined): number => Number(v ?? 0);
  return {
    memory: n(r.memory),
    memorySwap: n(r.memory_swap),
    memoryReservation: n(r.memory_reservation),
    nanoCpus: n(r.nano_cpus),
    cpuShares: n(r.cpu_shares),
    cpuPeriod: n(r.cpu_period),
    cpuQuota: n(r.cpu_quota),
    cpusetCpus: r.cpuset_cpus,
    ...(r.pids_limit !== undefined ? { pidsLimit: n(r.pids_limit) } : {}),
  };
}

/** Validates a container's resources without applying them. Throws InvalidArgument. */
export function validateResources(c: Pick<ContainerRecord, 'spec'>): void {
  toOciResources(resourcesInput(c as ContainerRecord));
}

function logLimits(cfg: Record<string, string>): { maxSize?: number; maxFile?: number } {
  const out: { maxSize?: number; maxFile?: number } = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'max-size') {
      const size = parseLogSize(v);
      if (size === undefined || size <= 0) throw invalidArgument(`invalid --log-opt max-size=${v}; use a size such as 10m`);
      out.maxSize = size;
    } else if (k === 'max-file') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw invalidArgument(`invalid --log-opt max-file=${v}; use a whole number of at least 1`);
      out.maxFile = n;
    } else if (k !== 'mode' && k !== 'compress' && k !== 'labels' && k !== 'env' && k !== 'tag') {
      throw invalidArgument(`unknown log opt '${k}' for json-file log driver; use max-size or max-file`);
    }
  }
  return out;
}

/** Network byte counters of the container's netns, from the init process's /proc. */
function netBytes(pid: number, dir: 'rx' | 'tx'): number {
  if (pid <= 0) return 0;
  try {
    const lines = readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2);
    let total = 0;
    for (const l of lines) {
      const [name, rest] = l.split(':');
      if (!rest || name?.trim() === 'lo') continue;
      const f = rest.trim().split(/\s+/).map(Number);
      total += (dir === 'rx' ? f[0] : f[8]) ?? 0;
    }
    return total;
  } catch {
    return 0;
  }
}

function osSignal(sig: NodeJS.Signals): number | undefined {
  return constants.signals[sig];
}

function fullCaps(_base: OciCapabilities): OciCapabilities {
  const all = [...hostCapabilities()];
  return { bounding: all, effective: all, permitted: all };
}

/** JSON.parse turns RLIM_INFINITY (2^64-1) into an inexact number; restore it. */
function fixRlimit(r: OciRlimit): OciRlimit {
  const fix = (v: number | bigint): number | bigint => (typeof v === 'number' && v >= 2 ** 63 ? RLIM_INFINITY : v);
  return { ...r, soft: fix(r.soft), hard: fix(r.hard) };
}
