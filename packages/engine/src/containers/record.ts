import type { ContainerSpec__Output } from '@shoal/api';
import type { ContainerVolumes } from '../volumes/mount-point.js';
import type { ContainerNetworking } from '../networks/types.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What `docker inspect` calls State. Times are RFC3339Nano strings; the zero time is docker's. */
export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
}

/** The effective process configuration: the image's config with the spec's overrides applied. */
export interface ProcessConfig {
  path: string;
  args: string[];
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
  stopTimeout?: number;
  labels: Record<string, string>;
  hostname: string;
  domainname: string;
}

/** Everything persisted about one container (config.v2.json). */
export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** As the user gave it. */
  imageRef: string;
  imageId: string;
  spec: ContainerSpec__Output;
  config: ProcessConfig;
  state: ContainerState;
  restartCount: number;
  /** Stopped by a user: `always` waits for a daemon restart, `unless-stopped` stays down. */
  manuallyStopped: boolean;
  /** The snapshot key of the container's writable layer. */
  snapshotKey: string;
  /** Chain ID of the image's top layer (the snapshot parent). */
  parentChainId: string;
  logPath: string;
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  /** Owned by the network service (endpoints, addresses, published ports); persisted with the record. */
  network?: ContainerNetworking;
  /** Owned by the volume service (the container's mount points); persisted with the record. */
  volumes?: ContainerVolumes;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** RFC3339 with nanoseconds, as docker prints it. */
export function rfc3339Nano(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}
