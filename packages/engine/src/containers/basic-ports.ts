// The networking and storage of an engine without the network and volume
// services: `--network none|host` and no volumes. The services replace these
// in createEngine; unit tests of the container lifecycle use them as they are.
import { readFile, writeFile } from 'node:fs/promises';
import { invalidArgument } from '@shoal/api';
import type { OciMount } from '../runtime/oci.js';
import type { NetworkPort, SandboxMode, VolumePort } from './ports.js';
import type { ContainerRecord } from './record.js';

export const DEFAULT_HOSTS =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

export class BasicNetworks implements NetworkPort {
  create(rec: ContainerRecord): Promise<void> {
    const spec = rec.spec;
    const mode = spec.network_mode === '' || spec.network_mode === 'default' ? 'none' : spec.network_mode;
    if (mode !== 'none' && mode !== 'host') {
      return Promise.reject(invalidArgument(`network "${spec.network_mode}" is not available: this engine supports --network none or --network host`));
    }
    spec.network_mode = mode;
    return Promise.resolve();
  }

  async setUp(rec: ContainerRecord): Promise<SandboxMode> {
    const host = rec.spec.network_mode === 'host';
    await writeFile(rec.hostsPath, host ? await readFile('/etc/hosts', 'utf8') : DEFAULT_HOSTS);
    await writeFile(rec.resolvConfPath, await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    return host ? 'host' : 'none';
  }

  tearDown(): Promise<void> {
    return Promise.resolve();
  }

  restore(): Promise<void> {
    return Promise.resolve();
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }

  inspect(rec: ContainerRecord): Record<string, unknown> {
    const m = rec.spec.network_mode;
    return { Bridge: '', SandboxID: '', HairpinMode: false, Ports: {}, SandboxKey: '', Networks: { [m]: { NetworkID: m, IPAddress: '', Gateway: '', MacAddress: '' } } };
  }

  summary(rec: ContainerRecord): { ports: string; networks: string } {
    return { ports: '', networks: rec.spec.network_mode };
  }
}

export class NoVolumes implements VolumePort {
  create(rec: ContainerRecord): Promise<void> {
    const s = rec.spec;
    if (s.binds.length > 0 || s.mounts.length > 0 || s.volumes_from.length > 0) {
      return Promise.reject(invalidArgument('volumes are not available on this engine'));
    }
    return Promise.resolve();
  }

  mount(): Promise<OciMount[]> {
    return Promise.resolve([]);
  }

  unmount(): Promise<void> {
    return Promise.resolve();
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }

  inspect(): Record<string, unknown>[] {
    return [];
  }

  summary(): string {
    return '';
  }
}
