// Test support: a throwaway OCI bundle of the busybox rootfs, run by real runc.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const exec = promisify(execFile);

/** The busybox rootfs tarball the repo's set-up builds. */
export const BUSYBOX_TAR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../build/images/busybox.tar');

export interface TestBundleOptions {
  args: string[];
  terminal?: boolean;
  /** Memory limit in bytes (swap is capped at the same value). */
  memory?: number;
}

export interface TestBundle {
  id: string;
  /** Temp root holding everything below. */
  root: string;
  bundle: string;
  /** runc --root. */
  runtimeRoot: string;
  /** Shim state dir. */
  stateDir: string;
  /** The container's v1 memory cgroup directory, or its v2 directory. */
  memoryCgroupDir: string;
  /** runc delete -f, rm -r. */
  cleanup(): Promise<void>;
}

let counter = 0;

async function cgroupV2Only(): Promise<boolean> {
  try {
    await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8');
    return true;
  } catch {
    return false;
  }
}

/** Makes a bundle in a fresh temp dir with a unique container id and cgroup. */
export async function makeTestBundle(opts: TestBundleOptions): Promise<TestBundle> {
  const id = `shimtest-${process.pid}-${++counter}-${Date.now().toString(36)}`;
  const root = await mkdtemp(join(tmpdir(), 'shoal-shim-'));
  const bundle = join(root, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  await exec('tar', ['-xf', BUSYBOX_TAR, '-C', rootfs]);
  await exec('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
    linux: { cgroupsPath?: string; resources?: Record<string, unknown> };
  };
  spec.process.terminal = opts.terminal ?? false;
  spec.process.args = opts.args;
  spec.root = { path: rootfs, readonly: false };
  const cgroupsPath = `/shoal-shim-test/${id}`;
  spec.linux.cgroupsPath = cgroupsPath;
  if (opts.memory) {
    spec.linux.resources = { ...spec.linux.resources, memory: { limit: opts.memory, swap: opts.memory } };
  }
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  const v2 = await cgroupV2Only();
  const memoryCgroupDir = v2 ? join('/sys/fs/cgroup', cgroupsPath) : join('/sys/fs/cgroup/memory', cgroupsPath);
  const runtimeRoot = join(root, 'runc');
  const stateDir = join(root, 'state');
  return {
    id,
    root,
    bundle,
    runtimeRoot,
    stateDir,
    memoryCgroupDir,
    cleanup: async () => {
      try {
        const pid = Number.parseInt(await readFile(join(stateDir, 'shim.pid'), 'utf8'), 10);
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // no shim or already gone
      }
      await exec('runc', ['--root', runtimeRoot, 'delete', '--force', id]).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
