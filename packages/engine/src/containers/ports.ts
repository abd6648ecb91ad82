import type { Readable } from 'node:stream';
import type { OciMount } from '../runtime/oci.js';
import type { ContainerRecord } from './record.js';

/** The subset of an OCI image config the container side reads. */
export interface ImageConfig {
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
}

export interface ResolvedImage {
  id: string;
  config: ImageConfig;
  /** The top layer's chain ID: the parent snapshot of a container's writable layer. */
  chainId: string;
  repoTags: string[];
}

/** What containers need from the image service. */
export interface ImagePort {
  /** Throws NotFound ("No such image: ...") for an unknown reference. */
  resolve(ref: string): Promise<ResolvedImage>;
  /** A new image from the container's writable layer on top of its image. */
  commit(options: {
    snapshotKey: string;
    baseImageId: string;
    config: ImageConfig;
    changes: string[];
    message: string;
    author: string;
    ref?: string;
    containerId: string;
  }): Promise<string>;
  changes(snapshotKey: string): Promise<{ kind: 'A' | 'C' | 'D'; path: string }[]>;
  exportContainer(snapshotKey: string): Promise<Readable>;
}

/** What containers need from the snapshotter. */
export interface SnapshotPort {
  /** Creates the container's writable layer on top of `parent`. */
  prepare(key: string, parent: string): Promise<void>;
  /** Mounts the snapshot (overlay) at `target`. */
  mount(key: string, target: string): Promise<void>;
  unmount(target: string): Promise<void>;
  remove(key: string): Promise<void>;
  /** Bytes in the writable layer. */
  usage(key: string): Promise<number>;
}

/** Which streams a client attaches to when the container starts. */
export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
  exitedAt: string;
  error?: string;
}

export interface ProcessStats {
  cpuTotalNs: bigint;
  systemNs: bigint;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
  netRx: number;
  netTx: number;
}

export interface ExecOptions {
  args: string[];
  env: string[];
  user: { uid: number; gid: number; additionalGids: number[] };
  cwd: string;
  tty: boolean;
  stdin: boolean;
  detach: boolean;
  privileged: boolean;
}

/** A running exec: its stdio and its exit. */
export interface ExecProcess {
  stdin?: NodeJS.WritableStream;
  stdout: Readable;
  stderr: Readable;
  exit: Promise<number>;
}

/** What the network and volume services prepared for one start of a container. */
export interface StartSandbox {
  network: SandboxMode;
  /** Volume, bind and tmpfs mounts, applied after the /etc files in this order. */
  mounts: OciMount[];
}

/** The process side of a container: bundles, shims, runc. */
export interface RuntimePort {
  /**
   * Writes the OCI bundle and starts the container's process through its shim.
   * Throws a ContainerStartError carrying docker's exit code (125/126/127).
   */
  start(c: ContainerRecord, rootfs: string, sandbox: StartSandbox, signal: AbortSignal, attach?: AttachStreams): Promise<{ pid: number }>;
  /** Resolves when the container's process has exited (or its shim died). */
  waitExit(c: ContainerRecord, signal: AbortSignal): Promise<ExitInfo>;
  /** Whether the shim of a container that was running is still alive. */
  alive(c: ContainerRecord): Promise<boolean>;
  /** The recorded exit of a shim that finished while nobody watched, if any. */
  recordedExit(c: ContainerRecord): Promise<ExitInfo | undefined>;
  kill(c: ContainerRecord, signal: number, all?: boolean): Promise<void>;
  pause(c: ContainerRecord): Promise<void>;
  resume(c: ContainerRecord): Promise<void>;
  update(c: ContainerRecord): Promise<void>;
  pids(c: ContainerRecord): Promise<number[]>;
  stats(c: ContainerRecord): Promise<ProcessStats>;
  exec(c: ContainerRecord, options: ExecOptions, signal: AbortSignal): Promise<ExecProcess>;
  /** Removes runtime leftovers (bundle, shim state, cgroup). */
  cleanup(c: ContainerRecord): Promise<void>;
  /** Opens the shim's stdin for an attached client; undefined when stdin is not open. */
  attachStdin(c: ContainerRecord, signal: AbortSignal): Promise<StdinHandle | undefined>;
}

export interface StdinHandle {
  write(data: Buffer): void;
  close(): void;
  resize(rows: number, cols: number): void;
  detach(): void;
}

/** How the runtime puts the container's process on the network. */
export type SandboxMode = 'none' | 'host' | { netnsPath: string };

/**
 * What containers need from networking (implemented by the network service).
 * Every method is idempotent: a daemon that died part-way calls it again.
 */
export interface NetworkPort {
  /**
   * At create: checks and normalises the spec's networking (network mode,
   * networks exist, --ip inside the subnet, ports, links, extra hosts) and
   * records the container's endpoints. Throws InvalidArgument, NotFound or
   * Conflict with a message that says what to change; nothing is kept then.
   */
  create(rec: ContainerRecord): Promise<void>;
  /**
   * Before the process starts: builds the sandbox (namespace, interfaces,
   * published ports) and writes the container's hosts, hostname and
   * resolv.conf files. Throws when the sandbox cannot be built (e.g. a host
   * port is taken); whatever it built is torn down again.
   */
  setUp(rec: ContainerRecord, signal: AbortSignal): Promise<SandboxMode>;
  /** After the process exited or failed to start: frees the sandbox; addresses stay reserved. */
  tearDown(rec: ContainerRecord): Promise<void>;
  /** After a daemon restart, for a container whose process is still running: re-adopts its sandbox. */
  restore(rec: ContainerRecord): Promise<void>;
  /** On remove: releases everything the container held. */
  remove(rec: ContainerRecord): Promise<void>;
  /** `inspect`: docker's NetworkSettings object. */
  inspect(rec: ContainerRecord): Record<string, unknown>;
  /** `ps`: the PORTS and NETWORKS columns. */
  summary(rec: ContainerRecord): { ports: string; networks: string };
}

/**
 * What containers need from volumes (implemented by the volume service).
 * Every method is idempotent.
 */
export interface VolumePort {
  /**
   * At create: resolves binds, --mount, --volumes-from and the image's
   * VOLUMEs into the container's mount points, creating named and anonymous
   * volumes as needed, and takes a reference on each volume. Throws
   * InvalidArgument or NotFound; nothing is kept then.
   */
  create(rec: ContainerRecord, image: ResolvedImage): Promise<void>;
  /**
   * At start: mounts each volume (asking plugins for a path), seeds empty
   * volumes from the image's files at the mount point, and returns the OCI
   * mounts in the order they must be applied.
   */
  mount(rec: ContainerRecord, rootfs: string, signal: AbortSignal): Promise<OciMount[]>;
  /** After the process exited: tells drivers the container no longer uses its volumes. */
  unmount(rec: ContainerRecord): Promise<void>;
  /** On remove: drops the container's references; removes its anonymous volumes when `removeAnonymous`. */
  remove(rec: ContainerRecord, removeAnonymous: boolean): Promise<void>;
  /** `inspect`: docker's Mounts array. */
  inspect(rec: ContainerRecord): Record<string, unknown>[];
  /** `ps`: the MOUNTS column. */
  summary(rec: ContainerRecord): string;
}
