// A bare OCI bundle of busybox for timing `runc run` with nothing of ours in
// between: the floor any engine built on runc can reach.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHarness } from './e2e-harness.js';
import { mustRun } from './timed-process.js';

/** The fields of runc's default config.json that the bench changes. */
interface OciConfig {
  process?: { args?: string[]; terminal?: boolean };
  root?: { path?: string; readonly?: boolean };
  linux?: { cgroupsPath?: string };
}

export class RuncBundle {
  /** runc's state dir for this bundle's containers, so the host's /run/runc stays untouched. */
  readonly stateRoot: string;
  readonly cgroupParent = `shoal-bench-runc-${process.pid}`;
  private readonly configPath: string;
  private count = 0;

  private constructor(
    readonly dir: string,
    private readonly config: OciConfig,
  ) {
    this.stateRoot = join(dir, 'state');
    this.configPath = join(dir, 'bundle', 'config.json');
  }

  get bundle(): string {
    return join(this.dir, 'bundle');
  }

  /**
   * Extracts `rootfsTar` into a temp bundle and writes runc's default spec with `args`,
   * no terminal and a writable root. Throws when tar or `runc spec` fail.
   */
  static async prepare(rootfsTar: string, args: string[]): Promise<RuncBundle> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-runc-'));
    try {
      const bundle = join(dir, 'bundle');
      await mkdir(join(bundle, 'rootfs'), { recursive: true });
      await mustRun('tar', ['-xf', rootfsTar, '-C', join(bundle, 'rootfs')]);
      await mustRun('runc', ['spec', '--bundle', bundle]);
      const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as OciConfig;
      config.process = { ...config.process, args, terminal: false };
      config.root = { ...config.root, path: 'rootfs', readonly: false };
      return new RuncBundle(dir, config);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Gives the next run a container id and cgroup of its own (rewriting config.json, outside
   * the timed part) and returns the `runc` arguments to time.
   */
  async nextRun(): Promise<string[]> {
    this.count += 1;
    const id = `shoal-bench-${process.pid}-${this.count}`;
    this.config.linux = { ...this.config.linux, cgroupsPath: `/${this.cgroupParent}/${id}` };
    await writeFile(this.configPath, JSON.stringify(this.config));
    return ['--root', this.stateRoot, 'run', '--bundle', this.bundle, id];
  }

  /** Removes the bundle, its state dir and cgroups. Never throws. */
  async destroy(): Promise<void> {
    const h = await loadHarness().catch(() => undefined);
    await h?.unmountUnder(this.dir);
    await h?.removeCgroupTree(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
