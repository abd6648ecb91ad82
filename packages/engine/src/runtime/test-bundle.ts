// Test support: OCI bundles over the busybox root filesystem that
// scripts/build-images.sh builds, and a way to run them to completion.
// Used by the runtime and cgroups tests only.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ociJson, type OciSpec } from './oci.js';
import type { Runc } from './runc.js';
import { buildSpec, type SpecInput } from './spec.js';

const run = promisify(execFile);

/** The repo's busybox rootfs tarball (packages/engine/dist/runtime -> repo root). */
export const BUSYBOX_TAR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../build/images/busybox.tar');

/** Extracts the busybox rootfs into a new temp dir and returns the dir (rootfs is `<dir>/rootfs`). */
export async function extractBusybox(): Promise<string> {
  if (!existsSync(BUSYBOX_TAR)) throw new Error(`${BUSYBOX_TAR} is missing; run scripts/build-images.sh`);
  const dir = await mkdtemp(path.join(tmpdir(), 'shoal-rt-'));
  const rootfs = path.join(dir, 'rootfs');
  await mkdir(rootfs);
  await run('tar', ['-xf', BUSYBOX_TAR, '-C', rootfs, '--numeric-owner']);
  return dir;
}

/** Writes a bundle (config.json only; root.path points at a shared rootfs). */
export async function writeBundle(dir: string, spec: OciSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), ociJson(spec, 2));
  return dir;
}

/** A SpecInput for busybox with test-friendly defaults. */
export function testSpecInput(rootfs: string, cgroupsPath: string, args: string[], extra: Partial<SpecInput> = {}): SpecInput {
  return {
    id: path.basename(cgroupsPath),
    rootfsPath: rootfs,
    args,
    env: [],
    user: { uid: 0, gid: 0 },
    networkMode: 'none',
    cgroupsPath,
    hostname: 'test',
    ...extra,
  };
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a bundle in the foreground and waits for it (killing it after timeoutMs). */
export async function runToExit(runc: Runc, id: string, bundle: string, timeoutMs = 60_000): Promise<RunResult> {
  const started = performance.now();
  const child = runc.run(id, bundle, { signal: AbortSignal.timeout(timeoutMs), keep: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve(code ?? 128 + (sig === 'SIGKILL' ? 9 : 15)));
  });
  return { exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - started };
}

/**
 * Builds the spec, writes the bundle and runs it to completion (kept, so
 * `afterExit` can still read its cgroup), then deletes it.
 */
export async function runSpec(runc: Runc, bundleDir: string, input: SpecInput, afterExit?: () => Promise<void>): Promise<RunResult> {
  const spec = buildSpec(input);
  await writeBundle(bundleDir, spec);
  try {
    const r = await runToExit(runc, input.id, bundleDir);
    await afterExit?.();
    return r;
  } finally {
    await runc.delete(input.id, { force: true }).catch(() => undefined);
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
