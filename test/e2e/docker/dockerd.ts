// A throw-away real Docker daemon (Debian's docker.io, 20.10) for the
// compatibility tests, run by scripts/dockerd-netns.sh: its own network
// namespace, containerd, data/exec roots and cgroup parent, all removed at test
// teardown even when the test fails. The script is shared with
// scripts/docker-fixture.sh so that both run Docker the same way.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, type CliOptions, type CliResult, type Teardown } from '../harness.js';

const execFileP = promisify(execFile);

export const DOCKERD_NETNS = join(REPO, 'scripts/dockerd-netns.sh');

/** The docker client: $DOCKER_CLI, else `docker` on PATH (any version speaking API 1.41). */
export const DOCKER_CLI = process.env.DOCKER_CLI ?? 'docker';

/**
 * Whether a real dockerd can be started here: root, and dockerd, containerd,
 * the docker client, nsenter and ip installed. Synchronous so that test files
 * can choose `test` or `test.skip` when they load.
 */
export function dockerdAvailable(): boolean {
  if (!existsSync(DOCKERD_NETNS)) return false;
  return spawnSync('bash', [DOCKERD_NETNS, 'available'], { stdio: 'ignore' }).status === 0;
}

export class Dockerd {
  /** Milliseconds from starting the script until the API answered. */
  startMs = 0;

  private constructor(
    readonly dir: string,
    readonly host: string,
  ) {}

  /**
   * Starts containerd and dockerd in a new network namespace and waits until
   * the API answers. Throws with the daemons' log tails when they do not come
   * up; the script has removed everything it made by then.
   */
  static async start(): Promise<Dockerd> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-dockerd-'));
    const t0 = Date.now();
    try {
      const { stdout } = await execFileP('bash', [DOCKERD_NETNS, 'start', dir], { timeout: 90_000 });
      const d = new Dockerd(dir, stdout.trim());
      d.startMs = Date.now() - t0;
      return d;
    } catch (err) {
      // A start killed by the timeout leaves its daemons behind; stop is idempotent.
      await execFileP('bash', [DOCKERD_NETNS, 'stop', dir], { timeout: 90_000 }).catch(() => undefined);
      const e = err as { stderr?: string; message: string };
      throw new Error(`dockerd did not start: ${e.stderr ?? e.message}`, { cause: err });
    }
  }

  /** Runs the docker client against this daemon, with a client config of its own. */
  docker(args: string[], o: CliOptions = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        DOCKER_CLI,
        args,
        {
          env: { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: join(this.dir, 'client'), ...o.env },
          timeout: o.timeoutMs ?? 60_000,
          maxBuffer: 64 << 20,
          encoding: 'utf8',
        },
        (err, stdout, stderr) => {
          if (err === null) resolve({ code: 0, stdout, stderr });
          else if (typeof err.code === 'number') resolve({ code: err.code, stdout, stderr });
          else reject(new Error(`${DOCKER_CLI} ${args.join(' ')} failed: ${err.message}`, { cause: err }));
        },
      );
      child.stdin?.on('error', () => undefined);
      if (o.input !== undefined) child.stdin?.end(o.input);
      else child.stdin?.end();
    });
  }

  /** Runs the docker client and fails with its output when it exits non-zero. */
  async ok(args: string[], o: CliOptions = {}): Promise<string> {
    const r = await this.docker(args, o);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** Stops both daemons and removes the namespace, mounts, cgroups and files. Never throws. */
  async destroy(): Promise<void> {
    await execFileP('bash', [DOCKERD_NETNS, 'stop', this.dir], { timeout: 90_000 }).catch(() => undefined);
  }
}

/** A started dockerd, destroyed at test teardown. */
export async function withDockerd(t: Teardown): Promise<Dockerd> {
  const d = await Dockerd.start();
  t.teardown(() => d.destroy());
  return d;
}
