// The built-in `local` driver: each volume is <root>/<name>/_data. A volume
// with options (tmpfs, a bind of a host directory, nfs…) is mounted on its
// _data at its first user's start and unmounted when the last user stops;
// who uses it is persisted beside it, so a daemon restart in between loses
// neither the count nor the mount.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, notFound, errorMessage } from '@shoal/api';
import { runCommand } from '../archive/run-command.js';
import { isMountPoint, unmount } from '../snapshots/mount.js';
import { readJsonIfExists, writeFileAtomic } from '../util/fs.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { DriverCapabilities, DriverVolume, VolumeDriver } from './driver.js';
import { parseLocalOptions, type LocalMountPlan } from './local-options.js';

export interface LocalDriverOptions {
  /** `<data-root>/volumes`. */
  root: string;
}

interface OnDisk {
  options: Record<string, string>;
  /** Containers that have the volume mounted (only kept for volumes with options). */
  users: string[];
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class LocalDriver implements VolumeDriver {
  readonly name = 'local';
  private readonly lock = new KeyedMutex();

  constructor(private readonly o: LocalDriverOptions) {}

  private dir(name: string): string {
    return join(this.o.root, name);
  }

  /** The host directory containers see. */
  dataPath(name: string): string {
    return join(this.o.root, name, '_data');
  }

  private async state(name: string): Promise<OnDisk> {
    if (!(await exists(this.dataPath(name)))) throw notFound(`no such volume: ${name}`);
    const s = await readJsonIfExists<OnDisk>(join(this.dir(name), 'opts.json'));
    return s ?? { options: {}, users: [] };
  }

  private async save(name: string, s: OnDisk): Promise<void> {
    await writeFileAtomic(join(this.dir(name), 'opts.json'), JSON.stringify(s));
  }

  /** Throws InvalidArgument for bad options (nothing is created then). */
  async create(name: string, options: Record<string, string>): Promise<void> {
    const plan = parseLocalOptions(options);
    if (plan?.bind && !(await exists(plan.device))) {
      throw failedPrecondition(`the bind device ${plan.device} does not exist; create the host directory first`);
    }
    await this.lock.run(name, async () => {
      if (await exists(this.dataPath(name))) return;
      await mkdir(this.dir(name), { recursive: true, mode: 0o701 });
      if (plan) await this.save(name, { options, users: [] });
      await mkdir(this.dataPath(name), { mode: 0o755 });
    });
  }

  /** Throws NotFound, or FailedPrecondition when the volume cannot be unmounted. */
  async remove(name: string): Promise<void> {
    await this.lock.run(name, async () => {
      await this.state(name);
      const data = this.dataPath(name);
      await unmount(data);
      // rm of a still-mounted bind volume would delete the host's files.
      if (await isMountPoint(data)) throw failedPrecondition(`volume ${name} is still mounted at ${data} and cannot be removed; stop the containers using it`);
      await rm(this.dir(name), { recursive: true, force: true });
    });
  }

  /** Throws NotFound, or FailedPrecondition with mount's message when mounting fails. */
  async mount(name: string, id: string, signal?: AbortSignal): Promise<string> {
    return this.lock.run(name, async () => {
      const s = await this.state(name);
      const data = this.dataPath(name);
      const plan = parseLocalOptions(s.options);
      if (!plan) return data;
      if (!(await isMountPoint(data))) {
        try {
          await mountPlan(plan, data, signal);
        } catch (err) {
          throw failedPrecondition(`mounting volume ${name} failed: ${errorMessage(err)}; check its options with volume inspect ${name}`, { cause: err });
        }
      }
      if (!s.users.includes(id)) {
        s.users.push(id);
        await this.save(name, s);
      }
      return data;
    });
  }

  async unmount(name: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.lock.run(name, async () => {
      let s: OnDisk;
      try {
        s = await this.state(name);
      } catch {
        return;
      }
      if (!parseLocalOptions(s.options)) return;
      const users = s.users.filter((u) => u !== id);
      if (users.length !== s.users.length) await this.save(name, { ...s, users });
      if (users.length === 0) await unmount(this.dataPath(name), signal);
    });
  }

  async path(name: string): Promise<string> {
    await this.state(name);
    return this.dataPath(name);
  }

  async get(name: string): Promise<DriverVolume> {
    await this.state(name);
    const st = await stat(this.dir(name));
    return { name, mountpoint: this.dataPath(name), createdAt: st.birthtime.toISOString() };
  }

  async list(): Promise<DriverVolume[]> {
    const names = await readdir(this.o.root).catch(() => [] as string[]);
    const out: DriverVolume[] = [];
    for (const n of names) {
      if (!NAME.test(n) || !(await exists(this.dataPath(n)))) continue;
      out.push({ name: n, mountpoint: this.dataPath(n) });
    }
    return out;
  }

  capabilities(): Promise<DriverCapabilities> {
    return Promise.resolve({ scope: 'local' });
  }

  /** Users recorded for a volume with options (for tests and diagnostics). */
  async users(name: string): Promise<string[]> {
    return (await this.state(name)).users;
  }
}

async function mountPlan(plan: LocalMountPlan, target: string, signal?: AbortSignal): Promise<void> {
  const args = plan.bind ? [] : ['-t', plan.type];
  if (plan.options !== '') args.push('-o', plan.options);
  args.push(plan.device, target);
  try {
    await runCommand('mount', args, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw err;
    throw internal(errorMessage(err).replace(/^mount .* failed: /, ''), { cause: err });
  }
}

function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
