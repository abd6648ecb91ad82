// How long one small fdatasync takes on the disk under the members' data dirs:
// with fsync on, a replicated write costs at least one of these on a quorum,
// so the raft bench prints it next to its figures (a virtual disk's flush time
// can move by 10× from one minute to the next).
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { percentile } from './stats.js';

export interface FsyncProbe {
  p50: number;
  p99: number;
}

/** Appends `count` records of `bytes` to a temp file under `dir`, timing each fdatasync. Throws file-system errors. */
export async function probeFdatasync(dir: string, count = 200, bytes = 300): Promise<FsyncProbe> {
  const tmp = await mkdtemp(join(dir, 'shoal-bench-fsync-'));
  try {
    const fh = await open(join(tmp, 'probe'), 'w');
    const buf = Buffer.alloc(bytes, 0x5a);
    const times: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        await fh.write(buf);
        const t0 = performance.now();
        await fh.datasync();
        times.push(performance.now() - t0);
      }
    } finally {
      await fh.close();
    }
    return { p50: percentile(times, 50) ?? 0, p99: percentile(times, 99) ?? 0 };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
