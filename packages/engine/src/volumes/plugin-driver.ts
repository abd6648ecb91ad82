// A volume driver served by a plugin over Docker's VolumeDriver protocol.
import { notFound } from '@shoal/api';
import type { DriverCapabilities, DriverVolume, VolumeDriver } from './driver.js';
import type { PluginClient} from './plugin-client.js';
import { PluginError } from './plugin-client.js';

interface WireVolume {
  Name?: string;
  Mountpoint?: string;
  CreatedAt?: string;
  Status?: Record<string, unknown>;
}

export class PluginDriver implements VolumeDriver {
  constructor(private readonly client: PluginClient) {}

  get name(): string {
    return this.client.name;
  }

  /** Throws the plugin's error (PluginError) or Unavailable. */
  async create(name: string, options: Record<string, string>, signal?: AbortSignal): Promise<void> {
    await this.client.call('VolumeDriver.Create', { Name: name, Opts: options }, signal);
  }

  /** Throws the plugin's error or Unavailable. */
  async remove(name: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('VolumeDriver.Remove', { Name: name }, signal);
  }

  /** Throws the plugin's error or Unavailable; the plugin must answer a Mountpoint. */
  async mount(name: string, id: string, signal?: AbortSignal): Promise<string> {
    const r = await this.client.call<{ Mountpoint?: string }>('VolumeDriver.Mount', { Name: name, ID: id }, signal);
    if (!r.Mountpoint) throw new PluginError('FailedPrecondition', `volume plugin "${this.name}": VolumeDriver.Mount of ${name} returned no Mountpoint`, 'no Mountpoint');
    return r.Mountpoint;
  }

  async unmount(name: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('VolumeDriver.Unmount', { Name: name, ID: id }, signal);
  }

  async path(name: string, signal?: AbortSignal): Promise<string> {
    const r = await this.client.call<{ Mountpoint?: string }>('VolumeDriver.Path', { Name: name }, signal);
    return r.Mountpoint ?? '';
  }

  /** Throws NotFound when the plugin says it has no such volume (any Err from Get). */
  async get(name: string, signal?: AbortSignal): Promise<DriverVolume> {
    let r: { Volume?: WireVolume };
    try {
      r = await this.client.call<{ Volume?: WireVolume }>('VolumeDriver.Get', { Name: name }, signal);
    } catch (err) {
      if (err instanceof PluginError) throw notFound(`no such volume: ${name} (volume plugin "${this.name}": ${err.pluginErr})`);
      throw err;
    }
    if (!r.Volume) throw notFound(`no such volume: ${name} (volume plugin "${this.name}" returned none)`);
    return toDriverVolume(r.Volume, name);
  }

  async list(signal?: AbortSignal): Promise<DriverVolume[]> {
    const r = await this.client.call<{ Volumes?: WireVolume[] }>('VolumeDriver.List', {}, signal);
    return (r.Volumes ?? []).map((v) => toDriverVolume(v, v.Name ?? ''));
  }

  async capabilities(signal?: AbortSignal): Promise<DriverCapabilities> {
    type Caps = { Capabilities?: { Scope?: string } };
    // Capabilities is optional in the protocol: a plugin without it is local.
    const r: Caps = await this.client.call<Caps>('VolumeDriver.Capabilities', {}, signal).catch((): Caps => ({}));
    return { scope: r.Capabilities?.Scope === 'global' ? 'global' : 'local' };
  }
}

function toDriverVolume(v: WireVolume, name: string): DriverVolume {
  return {
    name: v.Name ?? name,
    mountpoint: v.Mountpoint ?? '',
    ...(v.Status ? { status: v.Status } : {}),
    ...(v.CreatedAt ? { createdAt: v.CreatedAt } : {}),
  };
}
