// Test support: a throwaway OCI bundle of the busybox rootfs, run by real runc.
import type { ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { AttachFrame, ShimAttachment, ShimStartOptions } from './client.js';

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

/** A test bundle, removed when the test ends, with the start options a daemon would pass for it. */
export async function setupShimTest(
  t: ExecutionContext,
  bundleOpts: TestBundleOptions,
): Promise<{ b: TestBundle; opts: ShimStartOptions; logPath: string }> {
  const b = await makeTestBundle(bundleOpts);
  t.teardown(() => b.cleanup());
  const logPath = join(b.root, `${b.id}-json.log`);
  const opts: ShimStartOptions = {
    dir: b.stateDir,
    id: b.id,
    bundle: b.bundle,
    runtimeRoot: b.runtimeRoot,
    tty: bundleOpts.terminal ?? false,
    log: { driver: 'json-file', path: logPath },
    oomCgroupDirs: [b.memoryCgroupDir],
  };
  return { b, opts, logPath };
}

/** The entries of a json-file log. */
export async function readJsonLog(path: string): Promise<{ log: string; stream: string; time: string }[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
}

/** Everything an attachment delivers until it ends. */
export async function collect(att: ShimAttachment): Promise<{ stdout: string; stderr: string; exit?: AttachFrame }> {
  let stdout = '';
  let stderr = '';
  let exit: AttachFrame | undefined;
  for await (const f of att) {
    if (f.type === 'stdout') stdout += f.data.toString();
    else if (f.type === 'stderr') stderr += f.data.toString();
    else exit = f;
  }
  return { stdout, stderr, exit };
}

/**
 * Runs `script` (an ES module) in a separate node process standing in for the
 * daemon, waits for the first line it prints, kills it with SIGKILL, and
 * returns that line parsed as JSON.
 */
export async function runDaemonThenKill(script: string): Promise<unknown> {
  const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => daemon.once('exit', r));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    daemon.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out);
    });
    daemon.once('exit', (code) => reject(new Error(`the stand-in daemon exited with ${code} before printing a line`)));
  });
  daemon.kill('SIGKILL');
  await exited;
  return JSON.parse(line);
}
