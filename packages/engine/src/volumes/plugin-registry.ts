// Finds volume plugins by name: a unix socket `<dir>/<name>.sock` (or
// `<dir>/<name>/<name>.sock`), activated once with /Plugin.Activate.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, notFound } from '@shoal/api';
import { PluginClient } from './plugin-client.js';
import { PluginDriver } from './plugin-driver.js';

export interface PluginRegistryOptions {
  /** Where plugin sockets live (default /run/shoal/plugins). */
  dir: string;
  timeoutMs?: number;
}

const PLUGIN_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class PluginRegistry {
  private readonly active = new Map<string, { socket: string; driver: PluginDriver }>();

  constructor(private readonly o: PluginRegistryOptions) {}

  /**
   * The driver of plugin `name`, activating it on first use (and again when
   * its socket changed, i.e. the plugin restarted). Throws NotFound when no
   * socket exists, Unavailable when it does not answer, FailedPrecondition
   * when it is not a volume driver.
   */
  async driver(name: string, signal?: AbortSignal): Promise<PluginDriver> {
    if (!PLUGIN_NAME.test(name)) throw notFound(`volume plugin "${name}" not found: the name is not a valid plugin name`);
    const socket = await this.find(name);
    if (!socket) {
      this.active.delete(name);
      throw notFound(`volume plugin "${name}" not found: no socket ${join(this.o.dir, `${name}.sock`)}; start the plugin or use the local driver`);
    }
    const key = `${socket.path}@${socket.ino}`;
    const hit = this.active.get(name);
    if (hit && hit.socket === key) return hit.driver;
    const client = new PluginClient({ name, socketPath: socket.path, ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}) });
    const r = await client.call<{ Implements?: string[] }>('Plugin.Activate', {}, signal);
    if (!(r.Implements ?? []).includes('VolumeDriver')) {
      throw failedPrecondition(`plugin "${name}" is not a volume driver (it implements ${(r.Implements ?? []).join(', ') || 'nothing'})`);
    }
    const driver = new PluginDriver(client);
    this.active.set(name, { socket: key, driver });
    return driver;
  }

  private async find(name: string): Promise<{ path: string; ino: number } | undefined> {
    for (const p of [join(this.o.dir, `${name}.sock`), join(this.o.dir, name, `${name}.sock`)]) {
      const st = await stat(p).catch(() => undefined);
      if (st?.isSocket()) return { path: p, ino: st.ino };
    }
    return undefined;
  }
}
