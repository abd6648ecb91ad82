// End-to-end harness: a real `shoald` process with its own data root, exec
// root, socket and cgroup parent, driven through the real `shoal` CLI. Every
// daemon, container, mount and cgroup a test makes is cleaned up even when the
// test fails.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, readdir, rmdir, stat } from 'node:fs/promises';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { createNetns, inNetns, netnsPath } from './netns.js';

export { createNetns, inNetns, Lab, netnsPath, type LabHost } from './netns.js';

const execFileP = promisify(execFile);

// Compiled to test/dist/e2e/harness.js: the repository is three levels up.
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const SHOAL_BIN = join(REPO, 'bin/shoal');
export const SHOALD_MAIN = join(REPO, 'packages/daemon/dist/main.js');
export const BUSYBOX_TAR = join(REPO, 'build/images/busybox.tar');
export const REDIS_TAR = join(REPO, 'build/images/redis.tar');
const RELAY = fileURLToPath(new URL('./relay.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

export interface DaemonOptions {
  /** Start of the daemon's cgroup parent name, so leftovers show whose they are (default "shoal-e2e"). */
  cgroupPrefix?: string;
  /** The daemon's --log-level (default debug, for post-mortems). */
  logLevel?: string;
  /** Run the daemon inside this named network namespace (under /run/netns): a "host" of its own. */
  netns?: string;
  /** Run the daemon in a UTS namespace of its own with this hostname (what a swarm node reports). */
  hostname?: string;
}

/** A private shoald (also used by bench/ so that both run the daemon the same way). */
export class Daemon {
  process?: ChildProcess;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly cgroupParent: string;
  readonly logPath: string;

  private readonly logLevel: string;
  /** The daemon's network namespace (a name under /run/netns), when it has one. */
  readonly netns: string | undefined;
  /** The daemon's own hostname (a UTS namespace), when it has one. */
  readonly hostname: string | undefined;

  constructor(
    readonly dir: string,
    o: DaemonOptions = {},
  ) {
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'exec');
    this.socket = join(dir, 'exec', 'shoald.sock');
    this.cgroupParent = `${o.cgroupPrefix ?? 'shoal-e2e'}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.logPath = join(dir, 'shoald.log');
    this.logLevel = o.logLevel ?? 'debug';
    this.netns = o.netns;
    this.hostname = o.hostname;
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  /** Starts shoald and waits until its socket answers. Throws with the daemon's log when it does not come up. */
  async start(extraArgs: string[] = []): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const argv = [
      process.execPath,
      SHOALD_MAIN,
      '--data-root',
      this.dataRoot,
      '--exec-root',
      this.execRoot,
      '-H',
      this.host,
      '--cgroup-parent',
      this.cgroupParent,
      '--log-level',
      this.logLevel,
      ...extraArgs,
    ];
    // nsenter execs the daemon after joining the namespace: the pid we hold is shoald's.
    let cmdline = this.netns ? ['nsenter', `--net=${netnsPath(this.netns)}`, ...argv] : argv;
    // unshare and sh exec too, so the pid stays shoald's.
    if (this.hostname) cmdline = ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', this.hostname, ...cmdline];
    const [cmd, ...args] = cmdline;
    const child = spawn(cmd!, args, { stdio: ['ignore', log, log], env: { ...process.env, ...this.env } });
    this.process = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) break;
      if (await canConnect(this.socket)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`shoald did not start (exit ${child.exitCode}); its log:\n${await readFile(this.logPath, 'utf8').catch(() => '')}`);
  }

  /** SIGTERM and wait for the process to end. */
  async stop(): Promise<number | null> {
    const p = this.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const done = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await done;
    clearTimeout(timer);
    return code;
  }

  async kill9(): Promise<void> {
    const p = this.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
  }

  /** Extra environment for the daemon process (set before start). */
  env: Record<string, string> = {};

  /** Runs a command on this daemon's "host": inside its network namespace (or here when it has none). */
  onHost(argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    if (!this.netns) throw new Error('this daemon has no network namespace of its own');
    return inNetns(this.netns, argv, o);
  }

  /**
   * A unix socket that reaches host:port as seen from this daemon's host (its
   * namespace), e.g. a published port on 127.0.0.1. Closed at teardown.
   * Throws when the relay does not start.
   */
  async tunnel(t: Teardown, port: number, host = '127.0.0.1'): Promise<string> {
    if (!this.netns) throw new Error('this daemon has no network namespace of its own');
    const socket = join(this.dir, `tunnel-${host}-${port}-${Math.random().toString(36).slice(2, 6)}.sock`);
    const child = spawn('nsenter', [`--net=${netnsPath(this.netns)}`, process.execPath, RELAY, socket, host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the relay to ${host}:${port} exited with ${code}`)));
    });
    return socket;
  }

  /** Runs the real `shoal` CLI against this daemon. */
  cli(args: string[], o: CliOptions = {}): Promise<CliResult> {
    return runCli(['-H', this.host, ...args], o);
  }

  /** Runs the CLI and fails with its output when it exits non-zero. */
  async ok(args: string[], o: CliOptions = {}): Promise<string> {
    const r = await this.cli(args, o);
    if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  async log(): Promise<string> {
    return readFile(this.logPath, 'utf8').catch(() => '');
  }

  /** Stops the daemon and removes every trace: containers, mounts, cgroups, files. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    await killContainers(join(this.execRoot, 'runc'));
    await killShims(this.execRoot);
    await unmountUnder(this.dir);
    await removeCgroupTree(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export interface WithDaemonOptions {
  /** Import busybox:latest (default true). */
  busybox?: boolean;
  /** The daemon's network namespace: a given name, or a new one (default); never the test's own. */
  netns?: string;
  /** Extra shoald flags. */
  args?: string[];
  /** Extra environment for shoald. */
  env?: Record<string, string>;
  /** The daemon's hostname (a UTS namespace of its own); default: the machine's. */
  hostname?: string;
}

/**
 * A started daemon in a network namespace of its own (a "host"), with
 * busybox:latest imported; the daemon, its containers and the namespace are
 * destroyed at test teardown.
 */
export async function withDaemon(t: Teardown, o: WithDaemonOptions = {}): Promise<Daemon> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-e2e-'));
  const netns = o.netns ?? (await createNetns(t, 'd'));
  const d = new Daemon(dir, { netns, ...(o.hostname ? { hostname: o.hostname } : {}) });
  d.env = o.env ?? {};
  // SHOAL_E2E_KEEP=1 leaves a failed test's daemon directory for a post-mortem (after stopping everything).
  t.teardown(async () => {
    if (process.env.SHOAL_E2E_KEEP === '1') {
      await d.stop().catch(() => undefined);
      process.stderr.write(`kept ${dir}\n`);
      return;
    }
    await d.destroy();
  });
  await d.start(o.args ?? []);
  if (o.busybox !== false) await d.ok(['import', '--change', 'CMD ["sh"]', BUSYBOX_TAR, 'busybox:latest']);
  return d;
}

export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(SHOAL_BIN, args, { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 + 9 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => undefined);
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
  });
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function killContainers(runcRoot: string): Promise<void> {
  if (!existsSync(runcRoot)) return;
  for (const id of await readdir(runcRoot).catch(() => [] as string[])) {
    await execFileP('runc', ['--root', runcRoot, 'kill', '--all', id, 'KILL']).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await execFileP('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
  }
}

async function killShims(execRoot: string): Promise<void> {
  const dir = join(execRoot, 'containers');
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number((await readFile(join(dir, id, 'shim.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Lazily unmounts everything mounted at or under `dir`, deepest first. Never throws. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
}

/**
 * Removes the cgroup `name` (relative to each hierarchy root) and everything below it, in
 * every mounted hierarchy: cgroup v2, each v1 controller, and a hybrid's unified mount.
 * Never throws; a cgroup that still has processes simply stays.
 */
export async function removeCgroupTree(name: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const roots = [base, ...(await readdir(base).catch(() => [] as string[])).map((c) => join(base, c))];
  for (const root of roots) await rmdirDeep(join(root, name));
}

async function rmdirDeep(dir: string): Promise<void> {
  if (!(await isDir(dir))) return;
  for (const child of await readdir(dir).catch(() => [] as string[])) {
    const c = join(dir, child);
    if (await isDir(c)) await rmdirDeep(c);
  }
  await rmdir(dir).catch(() => undefined);
}

function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Polls `fn` until it returns true or the time runs out. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return fn();
}
