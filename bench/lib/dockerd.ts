// A throwaway Docker daemon for side-by-side figures (`--with-dockerd`). It
// runs inside a network namespace of its own with iptables and the default
// bridge off, so the host's network configuration is never touched, and its
// data, exec root, socket and cgroups all live under one temp dir / name.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '@shoal/api';
import { alive, childPids, removeCgroupTree, signalPid, unmountUnder } from './host.js';
import { mustRun, timedRun } from './timed-process.js';

/** The docker CLI: $DOCKER_CLI, else /usr/local/bin/docker, else `docker` on PATH. */
export const DOCKER_CLI = process.env.DOCKER_CLI ?? (existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker');

/** The server version when the Docker daemon at `host` answers within 10 s, else undefined. */
export async function dockerServerVersion(host: string): Promise<string | undefined> {
  const r = await timedRun(DOCKER_CLI, ['version', '--format', '{{.Server.Version}}'], {
    env: { ...process.env, DOCKER_HOST: host },
    timeoutMs: 10_000,
  }).catch(() => undefined);
  return r?.code === 0 ? r.stdout.trim() : undefined;
}

export class BenchDockerd {
  readonly netns = `shoal-bench-${process.pid}`;
  readonly cgroupParent = `shoal-bench-docker-${process.pid}`;
  readonly socket: string;
  readonly logPath: string;
  private child?: ChildProcess;
  private netnsMade = false;

  private constructor(readonly dir: string) {
    this.socket = join(dir, 'docker.sock');
    this.logPath = join(dir, 'dockerd.log');
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts `dockerd` in a new network namespace and waits (≤ 60 s) until it answers.
   * Throws with its log when it does not; everything made so far is removed then.
   */
  static async start(signal?: AbortSignal): Promise<BenchDockerd> {
    const d = new BenchDockerd(await mkdtemp(join(tmpdir(), 'shoal-bench-dockerd-')));
    try {
      await d.launch(signal);
      return d;
    } catch (e) {
      await d.destroy();
      throw e;
    }
  }

  private async launch(signal?: AbortSignal): Promise<void> {
    await mustRun('ip', ['netns', 'add', this.netns]);
    this.netnsMade = true;
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    // nsenter execs dockerd, so the child's pid is dockerd's own.
    const args = [`--net=/run/netns/${this.netns}`, 'dockerd'];
    args.push('--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none');
    args.push('--userland-proxy=false', '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'));
    args.push('--pidfile', join(this.dir, 'docker.pid'), '-H', this.host, '--cgroup-parent', this.cgroupParent);
    const child = spawn('nsenter', args, { stdio: ['ignore', log, log] });
    this.child = child;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (existsSync(this.socket) && (await dockerServerVersion(this.host)) !== undefined) return;
      await sleep(250, signal);
    }
    throw new Error(`dockerd did not come up; its log:\n${(await readFile(this.logPath, 'utf8').catch(() => '')).slice(-4000)}`);
  }

  /** Stops dockerd (and the containerd it started) and removes its namespace, mounts, cgroups and files. Never throws. */
  async destroy(): Promise<void> {
    const p = this.child;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      const helpers = await childPids(p.pid);
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
      // dockerd normally stops its containerd; make sure, by pid, that it did.
      for (const pid of helpers) {
        for (let i = 0; i < 40 && alive(pid); i++) await sleep(100);
        signalPid(pid, 'SIGKILL');
      }
    }
    await unmountUnder(this.dir);
    await removeCgroupTree(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    if (this.netnsMade) await mustRun('ip', ['netns', 'del', this.netns]).catch(() => undefined);
  }
}
