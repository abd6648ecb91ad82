// Shared by the storage tests: temp dirs, entries, and a file-system spy.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Entry } from '../core/types.js';
import { nodeStorageFs, type StorageFs } from './fs.js';

/** A fresh directory removed when the test ends. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-raft-storage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Entries [from, to] of `term`, each with `size` bytes of data that name it. */
export function entries(from: number, to: number, term = 1, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    const data = new Uint8Array(size);
    data.set(Buffer.from(`${term}:${i}:`).subarray(0, size));
    out.push({ index: i, term, type: 0, data });
  }
  return out;
}

export type FsOp = keyof StorageFs;

/** Wraps the real fs, logging every call as `op path?`; `fail(op, arg)` can throw to simulate a crash. */
export function spyFs(fail?: (op: FsOp, arg: unknown) => boolean): { fs: StorageFs; calls: string[]; count(op: FsOp): number } {
  const calls: string[] = [];
  const fs = {} as Record<string, unknown>;
  for (const [op, fn] of Object.entries(nodeStorageFs) as [FsOp, (...a: unknown[]) => Promise<unknown>][]) {
    fs[op] = (...args: unknown[]) => {
      const arg = typeof args[0] === 'string' ? args[0] : undefined;
      calls.push(arg === undefined ? op : `${op} ${arg}`);
      if (fail?.(op, args[0])) return Promise.reject(new Error(`simulated crash at ${op}`));
      return fn(...args);
    };
  }
  return { fs: fs as unknown as StorageFs, calls, count: (op) => calls.filter((c) => c === op || c.startsWith(`${op} `)).length };
}
