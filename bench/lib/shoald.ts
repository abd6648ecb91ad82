// A private `shoald` for one bench run: its own data root, exec root, socket
// and cgroup parent under a temp dir, so the bench never touches a daemon the
// machine already runs, and leaves nothing behind.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '@shoal/api';
import { removeCgroupTree, signalPid, unmountUnder } from './host.js';
import { REPO } from './paths.js';

const execFileP = promisify(execFile);

export const SHOALD_MAIN = join(REPO, 'packages/daemon/dist/main.js');

export interface BenchShoaldOptions {
  logLevel?: string;
  signal?: AbortSignal;
}

export class BenchShoald {
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly cgroupParent: string;
  readonly logPath: string;
  private child?: ChildProcess;

  private constructor(readonly dir: string) {
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'exec');
    this.socket = join(this.execRoot, 'shoald.sock');
    this.cgroupParent = `shoal-bench-${process.pid}`;
    this.logPath = join(dir, 'shoald.log');
  }

  /** `-H` value for the CLI. */
  get host(): string {
    return `unix://${this.socket}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts a daemon in a fresh temp dir and waits (≤ 20 s) until its socket answers.
   * Throws with the daemon's log when it exits or does not come up; the temp dir is removed then.
   */
  static async start(o: BenchShoaldOptions = {}): Promise<BenchShoald> {
    if (!existsSync(SHOALD_MAIN)) throw new Error(`${SHOALD_MAIN} is missing: build first with \`npx tsc -b\`.`);
    const d = new BenchShoald(await mkdtemp(join(tmpdir(), 'shoal-bench-')));
    try {
      await d.launch(o);
      return d;
    } catch (e) {
      await d.destroy();
      throw e;
    }
  }

  private async launch(o: BenchShoaldOptions): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const args = [SHOALD_MAIN, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '-H', this.host];
    args.push('--cgroup-parent', this.cgroupParent, '--log-level', o.logLevel ?? 'info');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await canConnect(this.socket)) return;
      await sleep(50, o.signal);
    }
    const why = child.exitCode !== null ? `exited with ${child.exitCode}` : 'did not answer within 20 s';
    throw new Error(`shoald ${why}; its log:\n${await this.log()}`);
  }

  async log(): Promise<string> {
    return readFile(this.logPath, 'utf8').catch(() => '');
  }

  /** SIGTERM, then SIGKILL after 15 s; resolves when the daemon has exited. */
  async stop(): Promise<void> {
    const p = this.child;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  }

  /** Stops the daemon and removes every trace of it: containers, shims, mounts, cgroups, files. Never throws. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    const runcRoot = join(this.execRoot, 'runc');
    for (const id of await readdir(runcRoot).catch(() => [] as string[])) {
      await execFileP('runc', ['--root', runcRoot, 'kill', '--all', id, 'KILL']).catch(() => undefined);
      await sleep(50);
      await execFileP('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
    }
    const containers = join(this.execRoot, 'containers');
    for (const id of await readdir(containers).catch(() => [] as string[])) {
      const pid = Number((await readFile(join(containers, id, 'shim.pid'), 'utf8').catch(() => '')).trim());
      if (pid > 0) signalPid(pid, 'SIGKILL');
    }
    await unmountUnder(this.dir);
    await removeCgroupTree(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
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
