import type { Readable } from 'node:stream';
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

/** The process side of a container: bundles, shims, runc. */
export interface RuntimePort {
  /**
   * Writes the OCI bundle and starts the container's process through its shim.
   * Throws a ContainerStartError carrying docker's exit code (125/126/127).
   */
  start(c: ContainerRecord, rootfs: string, signal: AbortSignal, attach?: AttachStreams): Promise<{ pid: number }>;
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
