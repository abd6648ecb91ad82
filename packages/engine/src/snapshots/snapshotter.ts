import type { Mount } from './mount.js';

export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  /** The key of an active/view snapshot, or the name of a committed one. */
  name: string;
  kind: SnapshotKind;
  parent?: string;
  /** ISO 8601. */
  created: string;
  labels: Record<string, string>;
}

export interface SnapshotUsage {
  /** Apparent bytes of the snapshot's own files (hard links counted once), as docker reports sizes. */
  size: number;
  inodes: number;
}

export interface PrepareOptions {
  labels?: Record<string, string>;
}

/**
 * Layered filesystems, containerd-style: committed snapshots are read-only
 * and named (by layer chain ID); active snapshots are writable and become
 * committed with `commit`; views are read-only mounts of a committed parent.
 */
export interface Snapshotter {
  prepare(key: string, parent?: string, options?: PrepareOptions): Promise<Mount[]>;
  view(key: string, parent: string, options?: PrepareOptions): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, options?: PrepareOptions): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  usage(key: string): Promise<SnapshotUsage>;
  walk(): Promise<SnapshotInfo[]>;
}
