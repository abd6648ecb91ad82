// The bridge driver: one Linux bridge per network in the daemon's namespace,
// holding the gateway address; each endpoint is a veth pair with the host end
// on the bridge and the other end (eth0, eth1, …) in the container's sandbox.
// Every device we make carries an ifalias "shoal:<id>", so leftovers are told
// apart from devices that belong to others.
import type { Logger } from '@shoal/api';
import type { JoinOptions, NetworkDriver } from './driver.js';
import { ipBatch, run } from './run.js';
import type { EndpointState, NetworkRecord } from './types.js';

export const ALIAS_PREFIX = 'shoal:';

interface IpLink {
  ifname: string;
  ifalias?: string;
  flags?: string[];
}

/** The links of one kind in the daemon's namespace (`ip -j link show type …`). Throws Internal. */
export async function listLinks(type: string): Promise<IpLink[]> {
  const out = await run('ip', ['-j', 'link', 'show', 'type', type]);
  return out.trim() === '' ? [] : (JSON.parse(out) as IpLink[]);
}

async function linkExists(name: string): Promise<boolean> {
  return run('ip', ['-j', 'link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );
}

export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';

  constructor(private readonly logger: Logger) {}

  async up(n: NetworkRecord, signal?: AbortSignal): Promise<void> {
    const cfg = n.ipam[0];
    const prefix = cfg?.Subnet.split('/')[1];
    const lines: string[] = [];
    if (!(await linkExists(n.bridge))) lines.push(`link add name ${n.bridge} type bridge`);
    lines.push(`link set dev ${n.bridge} alias ${ALIAS_PREFIX}${n.id}`);
    if (cfg && prefix) lines.push(`addr replace ${cfg.Gateway}/${prefix} dev ${n.bridge}`);
    const mtu = n.options['com.docker.network.driver.mtu'];
    if (mtu) lines.push(`link set dev ${n.bridge} mtu ${mtu}`);
    lines.push(`link set dev ${n.bridge} up`);
    await ipBatch(lines, undefined, signal);
  }

  async down(n: NetworkRecord): Promise<void> {
    if (await linkExists(n.bridge)) await run('ip', ['link', 'del', 'dev', n.bridge]);
  }

  async join(n: NetworkRecord, ep: EndpointState, o: JoinOptions): Promise<void> {
    // A veth left by a daemon that died part-way is replaced.
    if (await linkExists(ep.hostVeth)) await run('ip', ['link', 'del', 'dev', ep.hostVeth]).catch(() => undefined);
    await ipBatch(
      [
        `link add ${ep.hostVeth} type veth peer name ${ep.ifName} address ${ep.macAddress} netns ${o.netns}`,
        `link set dev ${ep.hostVeth} alias ${ALIAS_PREFIX}${ep.endpointId.slice(0, 12)}`,
        `link set dev ${ep.hostVeth} master ${n.bridge} up`,
      ],
      undefined,
      o.signal,
    );
    const inside = [`addr add ${ep.ipAddress}/${ep.prefixLen} dev ${ep.ifName}`, `link set dev ${ep.ifName} up`, 'link set dev lo up'];
    if (o.defaultRoute && ep.gateway) inside.push(`route replace default via ${ep.gateway} dev ${ep.ifName}`);
    try {
      await ipBatch(inside, o.netns, o.signal);
    } catch (err) {
      await run('ip', ['link', 'del', 'dev', ep.hostVeth]).catch(() => undefined);
      throw err;
    }
  }

  async leave(_n: NetworkRecord, ep: EndpointState): Promise<void> {
    if (ep.hostVeth && (await linkExists(ep.hostVeth))) {
      await run('ip', ['link', 'del', 'dev', ep.hostVeth]).catch((err: unknown) =>
        this.logger.warn('removing a veth failed', { 'endpoint.id': ep.endpointId, error: String(err) }),
      );
    }
  }
}

/** The host and none networks: nothing to build. */
export class NullDriver implements NetworkDriver {
  constructor(readonly name: string) {}
  up(): Promise<void> {
    return Promise.resolve();
  }
  down(): Promise<void> {
    return Promise.resolve();
  }
  join(): Promise<void> {
    return Promise.resolve();
  }
  leave(): Promise<void> {
    return Promise.resolve();
  }
}
