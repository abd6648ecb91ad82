// A thin wrapper over the runc binary. Every call takes an AbortSignal, and
// runc's error output becomes one ShoalError with a code a caller can test.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  alreadyExists,
  failedPrecondition,
  internal,
  invalidArgument,
  nopLogger,
  notFound,
  signalName,
  type Logger,
  type ShoalError,
} from '@shoal/api';
import { ociJson, type OciProcess, type OciResources } from './oci.js';
import { ptyCommand } from './pty-wrap.js';

export interface RuncOptions {
  /** runc's --root: where it keeps container state (e.g. /run/shoal/runc). */
  root: string;
  /** Defaults to "runc" on PATH. */
  binary?: string;
  logger?: Logger;
}

export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** `runc state` output. */
export interface RuncState {
  ociVersion: string;
  id: string;
  pid: number;
  status: RuncStatus;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
}

export interface RuncCallOptions {
  signal?: AbortSignal;
}

export interface RuncKillOptions extends RuncCallOptions {
  /** Signal every process in the container, not just its init. */
  all?: boolean;
}

export interface RuncDeleteOptions extends RuncCallOptions {
  /** Kill a running container first (runc delete --force). */
  force?: boolean;
}

export interface RuncExecOptions extends RuncCallOptions {
  /** Start the process and return once it runs (runc exec -d); the process is reparented. */
  detach?: boolean;
  /** Where runc writes the exec'd process's host pid. */
  pidFile?: string;
  /**
   * stdio of the child. With process.terminal in foreground mode runc is run
   * under a pty (util-linux `script`), so plain pipes work and carry the
   * terminal's bytes (CRLF line ends, echo).
   */
  stdio?: StdioOptions;
}

export interface RuncRunOptions extends RuncCallOptions {
  detach?: boolean;
  /** Keep the container's state and cgroup after it exits (runc run --keep), e.g. to read its OOM count; delete it later. */
  keep?: boolean;
  pidFile?: string;
  stdio?: StdioOptions;
}

export interface RuncVersion {
  runc: string;
  commit?: string;
  spec?: string;
}

interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** runc's error messages, from stderr: JSON log lines (--log-format json) or logrus text. */
export function runcErrorMessage(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith('{')) {
      try {
        const j = JSON.parse(t) as { msg?: unknown; level?: unknown };
        if (typeof j.msg === 'string' && (j.level === undefined || j.level === 'error' || j.level === 'fatal')) msgs.push(j.msg);
        continue;
      } catch {
        // fall through: not JSON after all
      }
    }
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(t);
    msgs.push(m?.[1] !== undefined ? m[1].replace(/\\"/g, '"') : t);
  }
  return msgs.join('; ');
}

/**
 * Classifies a runc failure. `what` names the operation and container for the
 * sentence the user sees.
 */
export function runcError(what: string, id: string, stderr: string, exit: number | null): ShoalError {
  const msg = runcErrorMessage(stderr) || `runc exited with status ${exit ?? 'unknown'}`;
  const lower = msg.toLowerCase();
  if (lower.includes('does not exist')) {
    return notFound(`No such container: ${id} (runc ${what}: ${msg}).`);
  }
  if (lower.includes('already exists') || lower.includes('id already in use')) {
    return alreadyExists(`container ${id} already exists in runc (runc ${what}: ${msg}); delete it first.`);
  }
  if (
    lower.includes('not running') ||
    lower.includes('stopped') ||
    lower.includes('is paused') ||
    lower.includes('not paused') ||
    lower.includes('is not stopped') ||
    lower.includes('container is running') ||
    lower.includes('cannot exec')
  ) {
    return failedPrecondition(`cannot ${what} container ${id}: ${msg}.`);
  }
  if (lower.includes('invalid') || lower.includes('unknown signal')) {
    return invalidArgument(`cannot ${what} container ${id}: ${msg}.`);
  }
  return internal(`runc ${what} failed for container ${id}: ${msg}.`);
}

/** The runc binary, driven with one state directory (`--root`). */
export class Runc {
  readonly root: string;
  readonly binary: string;
  private readonly logger: Logger;

  constructor(options: RuncOptions) {
    this.root = options.root;
    this.binary = options.binary ?? 'runc';
    this.logger = options.logger ?? nopLogger;
  }

  /** The global arguments every call starts with. */
  globalArgs(): string[] {
    return ['--root', this.root, '--log-format', 'json'];
  }

  private capture(args: string[], options: RuncCallOptions & { input?: string } = {}): Promise<Captured> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, [...this.globalArgs(), ...args], {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (b: Buffer) => out.push(b));
      child.stderr?.on('data', (b: Buffer) => err.push(b));
      child.once('error', (e: NodeJS.ErrnoException) => {
        if (e.name === 'AbortError') reject((options.signal?.reason as Error | undefined) ?? e);
        else if (e.code === 'ENOENT') reject(failedPrecondition(`runc is not installed (${this.binary} not found); install the runc package.`, { cause: e }));
        else reject(e);
      });
      child.once('close', (code, signal) => {
        resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  }

  private async call(what: string, id: string, args: string[], options: RuncCallOptions & { input?: string } = {}): Promise<string> {
    const started = performance.now();
    const r = await this.capture(args, options);
    this.logger.debug('runc call', { 'runc.args': args, 'runc.exit': r.code, 'runc.ms': Math.round(performance.now() - started) });
    if (r.code !== 0) throw runcError(what, id, r.stderr, r.code);
    return r.stdout;
  }

  /** `runc state`. Throws NotFound when runc does not know the container. */
  async state(id: string, options: RuncCallOptions = {}): Promise<RuncState> {
    return JSON.parse(await this.call('inspect', id, ['state', id], options)) as RuncState;
  }

  /** `runc list`: every container in this root (empty when none). */
  async list(options: RuncCallOptions = {}): Promise<RuncState[]> {
    const text = (await this.call('list', '*', ['list', '--format', 'json'], options)).trim();
    if (text === '' || text === 'null') return [];
    return JSON.parse(text) as RuncState[];
  }

  /**
   * Sends a signal (number or name) to the container's init, or to all its
   * processes with `all`. Throws NotFound / FailedPrecondition (not running).
   */
  async kill(id: string, signal: number | string, options: RuncKillOptions = {}): Promise<void> {
    const sig = typeof signal === 'number' ? signalName(signal).replace(/^SIG/, '') : signal.replace(/^SIG/i, '');
    const args = ['kill', ...(options.all ? ['--all'] : []), id, sig];
    await this.call('kill', id, args, options);
  }

  /** Freezes the container. Throws NotFound / FailedPrecondition. */
  async pause(id: string, options: RuncCallOptions = {}): Promise<void> {
    await this.call('pause', id, ['pause', id], options);
  }

  /** Thaws a paused container. Throws NotFound / FailedPrecondition. */
  async resume(id: string, options: RuncCallOptions = {}): Promise<void> {
    await this.call('unpause', id, ['resume', id], options);
  }

  /** Changes the resources of a live container (runc update --resources -). Throws NotFound / Internal. */
  async update(id: string, resources: OciResources, options: RuncCallOptions = {}): Promise<void> {
    await this.call('update', id, ['update', '--resources', '-', id], { ...options, input: ociJson(resources) });
  }

  /** Host pids of every process in the container. Throws NotFound. */
  async ps(id: string, options: RuncCallOptions = {}): Promise<number[]> {
    const text = (await this.call('list processes of', id, ['ps', '--format', 'json', id], options)).trim();
    if (text === '' || text === 'null') return [];
    return JSON.parse(text) as number[];
  }

  /**
   * Deletes the container's runc state (and its cgroup). With `force` a
   * running container is killed first. Throws NotFound / FailedPrecondition.
   */
  async delete(id: string, options: RuncDeleteOptions = {}): Promise<void> {
    await this.call('delete', id, ['delete', ...(options.force ? ['--force'] : []), id], options);
  }

  /** runc's version lines, parsed. */
  async version(options: RuncCallOptions = {}): Promise<RuncVersion> {
    const r = await this.capture(['--version'], options);
    if (r.code !== 0) throw internal(`runc --version failed: ${runcErrorMessage(r.stderr)}.`);
    const get = (k: string): string | undefined => new RegExp(`^${k}:?\\s+(?:version\\s+)?(.+)$`, 'm').exec(r.stdout)?.[1]?.trim();
    const v: RuncVersion = { runc: get('runc') ?? r.stdout.trim() };
    const commit = get('commit');
    const spec = get('spec');
    if (commit) v.commit = commit;
    if (spec) v.spec = spec;
    return v;
  }

  /** The full argv of `runc run` (binary first), e.g. to wrap with ptyCommand for a terminal. */
  runArgv(id: string, bundle: string, options: Omit<RuncRunOptions, 'stdio' | 'signal'> = {}): string[] {
    const args = ['run', '--bundle', bundle];
    if (options.detach) args.push('--detach');
    if (options.keep) args.push('--keep');
    if (options.pidFile) args.push('--pid-file', options.pidFile);
    args.push(id);
    return [this.binary, ...this.globalArgs(), ...args];
  }

  /**
   * Starts `runc run` for a bundle and returns the runc child. In foreground
   * mode runc stays the container's parent and exits with its status
   * (128+n when killed by signal n). The caller owns the child. A terminal
   * container in the foreground needs a tty as runc's stdio: spawn
   * ptyCommand(runArgv(...)) instead.
   */
  run(id: string, bundle: string, options: RuncRunOptions = {}): ChildProcess {
    const [file = this.binary, ...args] = this.runArgv(id, bundle, options);
    return spawn(file, args, {
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Starts a process in a running container (runc exec --process <file>) and
   * returns the runc child; it exits with the process's status (or at once
   * with `detach`). Throws before spawning only if the process file cannot be
   * written; runc's own errors arrive on the child's stderr and exit code.
   */
  async exec(id: string, process: OciProcess, options: RuncExecOptions = {}): Promise<ChildProcess> {
    const dir = await mkdtemp(path.join(tmpdir(), 'shoal-exec-'));
    const file = path.join(dir, 'process.json');
    await writeFile(file, ociJson(process), { mode: 0o600 });
    const args = ['exec', '--process', file];
    if (options.detach) args.push('--detach');
    if (options.pidFile) args.push('--pid-file', options.pidFile);
    args.push(id);
    const argv = [this.binary, ...this.globalArgs(), ...args];
    const cmd = process.terminal && !options.detach ? ptyCommand(argv) : { file: this.binary, args: argv.slice(1) };
    const child = spawn(cmd.file, cmd.args, {
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const cleanup = (): void => {
      rm(dir, { recursive: true, force: true }).catch((err: unknown) =>
        this.logger.warn('cannot remove exec process file', { 'container.id': id, error: String(err) }),
      );
    };
    child.once('close', cleanup);
    child.once('error', cleanup);
    return child;
  }
}
