// The network service: local networks (bridge, host, none), container
// sandboxes (one network namespace per container), published ports (iptables
// DNAT plus the userland proxy) and the network API. Networks are persisted
// under <data-root>/network/; each container's endpoints live in its record
// (ContainerRecord.network), so addresses stay reserved while the container
// exists and are freed with it.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  alreadyExists,
  conflict,
  errorMessage,
  failedPrecondition,
  invalidArgument,
  isConflict,
  notFound,
  type Logger,
} from '@shoal/api';
import type { NetworkPort, SandboxMode } from '../containers/ports.js';
import { rfc3339Nano, type ContainerRecord } from '../containers/record.js';
import { readJsonIfExists, writeFileAtomic } from '../util/fs.js';
import { ALIAS_PREFIX, BridgeDriver, listLinks, NullDriver } from './bridge-driver.js';
import { formatCidr, parseCidr, parseIpWithPrefix, type Cidr } from './cidr.js';
import type { NetworkDriver } from './driver.js';
import { containerResolvConf } from './dns/resolv-conf.js';
import { containerHosts, type HostsLink } from './dns/hosts-file.js';
import { linkEnv } from './dns/links.js';
import { EmbeddedDns, type DnsResolver } from './dns/server.js';
import { daemonUpstreams } from './dns/upstreams.js';
import { Iptables, type RuleState } from './iptables.js';
import { allocateAddress, DEFAULT_POOLS, macFor, resolveIpam, type AddressPool, type IpamConfig, type TakenBlock } from './ipam.js';
import { createNetns, removeNetns } from './netns.js';
import { candidatePorts, clashes, exposedPorts, formatPorts, inspectPorts, wantedPorts } from './port-spec.js';
import { openProxy, type PortProxy } from './proxy.js';
import { run } from './run.js';
import type { ContainerNetworking, EndpointState, NetworkRecord, PortMapping } from './types.js';

export const DEFAULT_BRIDGE = 'shoal0';
const PREDEFINED = ['bridge', 'host', 'none'];

export const DEFAULT_HOSTS_HEAD =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** What the network service needs of the container side. */
export interface ContainerLookup {
  /** Throws NotFound for an unknown container. */
  get(ref: string): ContainerRecord;
  list(): ContainerRecord[];
  persist(rec: ContainerRecord): Promise<void>;
}


export interface NetworkServiceOptions {
  /** <data-root>/network */
  root: string;
  /** Where sandbox namespace files live (<exec-root>/netns). */
  netnsDir: string;
  logger: Logger;
  /** --default-address-pool (default: docker's pools). */
  pools?: AddressPool[];
  /** --bip: the default bridge's gateway address and prefix, e.g. 10.99.0.1/24. */
  bip?: string;
  /** --iptables=false leaves iptables alone. */
  iptables?: boolean;
  /**
   * --bridge-netfilter=false: switched frames skip iptables in the daemon's
   * network namespace (net.bridge.bridge-nf-call-iptables=0). Shoal's rules
   * need no filtering of container-to-container traffic on one bridge, and
   * br_netfilter costs ~10–25% of a bridge's throughput; but the sysctl is
   * the namespace's, shared with any other bridge user there (Docker needs
   * it on), so it stays on unless asked.
   */
  bridgeNetfilter?: boolean;
  containers: () => ContainerLookup;
  /** The image's EXPOSEd ports ("80/tcp") of a container. */
  imageExposedPorts: (rec: ContainerRecord) => Promise<string[]>;
  /** Run the embedded DNS server on user networks (default true). */
  dns?: boolean;
  /** The host's resolv.conf (tests point it elsewhere). */
  resolvConfPath?: string;
}

export interface CreateNetworkRequest {
  name: string;
  driver: string;
  subnets: string[];
  gateways: string[];
  ipRanges: string[];
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

export interface NetworkFilter {
  key: string;
  value: string;
}

type Networking = ContainerNetworking;

function state(rec: ContainerRecord): Networking {
  const n = rec.network;
  if (n) return n;
  const fresh: Networking = { endpoints: {}, sandboxKey: '', ports: [], exposed: [] };
  rec.network = fresh;
  return fresh;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

export class NetworkService implements NetworkPort {
  private readonly networks = new Map<string, NetworkRecord>();
  /** Every container with endpoints, including ones being created. */
  private readonly records = new Map<string, ContainerRecord>();
  private readonly proxies = new Map<string, PortProxy[]>();
  private readonly drivers: Record<string, NetworkDriver>;
  private readonly iptables: Iptables | undefined;
  private readonly pools: readonly AddressPool[];
  private dns: EmbeddedDns | undefined;
  private nextRandomPort = 32768 + Math.floor(Math.random() * 28232);

  constructor(private readonly o: NetworkServiceOptions) {
    this.drivers = { bridge: new BridgeDriver(o.logger), host: new NullDriver('host'), null: new NullDriver('null') };
    this.pools = o.pools && o.pools.length > 0 ? o.pools : DEFAULT_POOLS;
    this.iptables = o.iptables === false ? undefined : new Iptables(() => this.ruleState(), o.logger);
  }

  // ---- lifecycle ----------------------------------------------------------

  /**
   * Loads the networks, creates the predefined ones, brings every bridge up
   * and removes bridges of networks that no longer exist. Throws when the
   * default bridge cannot be built.
   */
  async init(): Promise<void> {
    await mkdir(this.o.root, { recursive: true });
    await mkdir(this.o.netnsDir, { recursive: true });
    for (const f of await readdir(this.o.root)) {
      if (!f.endsWith('.json')) continue;
      try {
        const n = await readJsonIfExists<NetworkRecord>(join(this.o.root, f));
        if (n) this.networks.set(n.id, n);
      } catch (err) {
        this.o.logger.error('unreadable network record; skipping it', { file: f, error: errorMessage(err) });
      }
    }
    await this.ensurePredefined();
    await this.iptables?.enableForwarding();
    if (this.o.bridgeNetfilter === false) {
      await writeFile('/proc/sys/net/bridge/bridge-nf-call-iptables', '0\n').catch((err: unknown) =>
        this.o.logger.warn('could not turn off br_netfilter for switched traffic', { error: errorMessage(err) }),
      );
    }
    if (this.o.dns !== false) {
      const upstreams = await daemonUpstreams(this.o.resolvConfPath ? { resolvConfPath: this.o.resolvConfPath } : {}).catch(() => ['8.8.8.8', '8.8.4.4']);
      this.dns = new EmbeddedDns({ upstreams, logger: this.o.logger });
    }
    const ours = new Set([...this.networks.values()].map((n) => n.bridge).filter((b) => b !== ''));
    for (const link of await listLinks('bridge').catch(() => [])) {
      if (link.ifalias?.startsWith(ALIAS_PREFIX) && !ours.has(link.ifname)) {
        this.o.logger.info('removing the bridge of a deleted network', { bridge: link.ifname });
        await run('ip', ['link', 'del', 'dev', link.ifname]).catch(() => undefined);
      }
    }
    for (const n of this.networks.values()) {
      if (n.driver !== 'bridge') continue;
      await this.driver(n).up(n);
      await this.startDns(n);
    }
  }

  /**
   * After the containers are loaded: registers their endpoints, removes
   * sandboxes nobody runs in, and rebuilds the iptables rules. Never throws.
   */
  async adopt(recs: ContainerRecord[]): Promise<void> {
    for (const rec of recs) if (rec.network) this.records.set(rec.id, rec);
    const live = new Set(recs.map((r) => state(r).sandboxKey).filter((k) => k !== ''));
    for (const f of await readdir(this.o.netnsDir).catch(() => [])) {
      const p = join(this.o.netnsDir, f);
      if (!live.has(p)) await removeNetns(p).catch(() => undefined);
    }
    for (const rec of recs) {
      if (state(rec).sandboxKey === '' || ['running', 'paused'].includes(rec.state.status)) continue;
      await this.tearDown(rec).catch(() => undefined);
    }
    await this.syncRules().catch((err: unknown) => this.o.logger.error('rebuilding iptables rules failed', { error: errorMessage(err) }));
  }

  /** Starts the embedded DNS of a user bridge network on its gateway. Never throws; logs instead. */
  private async startDns(n: NetworkRecord): Promise<void> {
    const gw = n.ipam[0]?.Gateway;
    if (!this.dns || n.driver !== 'bridge' || n.name === 'bridge' || !gw) return;
    await this.dns.listen(gw, this.resolver(n.id)).catch((err: unknown) =>
      this.o.logger.warn('starting the embedded DNS failed; names will not resolve on this network', { 'network.id': n.id, error: errorMessage(err) }),
    );
  }

  /** Names as the container at clientIp on network `networkId` sees them: every network it is on. */
  private resolver(networkId: string): DnsResolver {
    const asker = (clientIp: string): ContainerRecord | undefined =>
      [...this.records.values()].find((r) => state(r).endpoints[networkId]?.ipAddress === clientIp && state(r).sandboxKey !== '');
    return {
      lookup: (clientIp, name) => {
        const rec = asker(clientIp);
        const nets = rec ? Object.keys(state(rec).endpoints) : [networkId];
        const ips = nets.flatMap((id) => this.resolveName(id, name, rec?.id));
        return ips.length > 0 ? { ipv4: [...new Set(ips)] } : undefined;
      },
      reverse: (clientIp, ip) => {
        const rec = asker(clientIp);
        const nets = rec ? Object.keys(state(rec).endpoints) : [networkId];
        for (const id of nets) {
          const name = this.reverseName(id, ip);
          if (name) return name;
        }
        return undefined;
      },
      upstreams: (clientIp) => {
        const dns = asker(clientIp)?.spec.dns ?? [];
        return dns.length > 0 ? dns : undefined;
      },
    };
  }

  /** Closes the proxies (the next daemon re-opens them) and the DNS listeners. */
  async close(): Promise<void> {
    await this.dns?.close();
    for (const list of this.proxies.values()) for (const p of list) await p.close();
    this.proxies.clear();
  }

  private async ensurePredefined(): Promise<void> {
    const byName = (name: string): NetworkRecord | undefined => [...this.networks.values()].find((n) => n.name === name);
    for (const name of PREDEFINED) {
      let n = byName(name);
      if (name === 'bridge') {
        const ipam = this.defaultBridgeIpam(n);
        if (!n) {
          n = this.newRecord({ name, driver: 'bridge', ipam: [ipam], bridge: DEFAULT_BRIDGE, predefined: true });
          n.options = {
            'com.docker.network.bridge.default_bridge': 'true',
            'com.docker.network.bridge.enable_icc': 'true',
            'com.docker.network.bridge.enable_ip_masquerade': 'true',
            'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
            'com.docker.network.bridge.name': DEFAULT_BRIDGE,
            'com.docker.network.driver.mtu': '1500',
          };
        } else if (n.ipam[0]?.Subnet !== ipam.Subnet || n.ipam[0]?.Gateway !== ipam.Gateway) {
          // --bip changed: the bridge gets the new address.
          await this.drivers.bridge!.down(n).catch(() => undefined);
          n.ipam = [ipam];
        } else continue;
      } else if (!n) {
        n = this.newRecord({ name, driver: name === 'none' ? 'null' : 'host', ipam: [], bridge: '', predefined: true });
      } else continue;
      this.networks.set(n.id, n);
      await this.save(n);
    }
  }

  private defaultBridgeIpam(existing: NetworkRecord | undefined): IpamConfig {
    if (this.o.bip) {
      const { ip, cidr } = parseIpWithPrefix(this.o.bip);
      return resolveIpam({ subnet: formatCidr(cidr), gateway: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.') }, this.pools, []);
    }
    if (existing?.ipam[0]) return existing.ipam[0];
    const taken = [...this.networks.values()].flatMap((n) => n.ipam.map((c) => ({ cidr: parseCidr(c.Subnet), what: `network ${n.name}` })));
    return resolveIpam({}, this.pools, taken);
  }

  private newRecord(p: Pick<NetworkRecord, 'name' | 'driver' | 'ipam' | 'bridge' | 'predefined'>): NetworkRecord {
    return { id: hex(32), scope: 'local', created: rfc3339Nano(), internal: false, attachable: false, labels: {}, options: {}, ...p };
  }

  private async save(n: NetworkRecord): Promise<void> {
    await writeFileAtomic(join(this.o.root, `${n.id}.json`), JSON.stringify(n));
  }

  private driver(n: NetworkRecord): NetworkDriver {
    return this.drivers[n.driver] ?? this.drivers.null!;
  }

  // ---- the network API ----------------------------------------------------

  /**
   * Finds a network by full ID, name or unique ID prefix. Throws NotFound
   * ("network X not found") or InvalidArgument for an ambiguous prefix.
   */
  get(ref: string): NetworkRecord {
    const byId = this.networks.get(ref);
    if (byId) return byId;
    const all = [...this.networks.values()];
    const byName = all.find((n) => n.name === ref);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = all.filter((n) => n.id.startsWith(ref));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${hits.length} matches found); use more characters of the ID`);
    }
    throw notFound(`network ${ref} not found`);
  }

  /** NetworkPort.create: see containers/ports.ts. */
  create(rec: ContainerRecord): Promise<void> {
    return this.createEndpoints(rec);
  }

  /**
   * `network create`. Throws InvalidArgument for bad options, AlreadyExists
   * for a taken name, Conflict for an overlapping subnet; nothing is kept then.
   */
  async createNetwork(req: CreateNetworkRequest): Promise<{ id: string; warning: string }> {
    const name = req.name;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
      throw invalidArgument(`invalid network name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`);
    }
    if ([...this.networks.values()].some((n) => n.name === name)) throw alreadyExists(`network with name ${name} already exists`);
    const driver = req.driver || 'bridge';
    if (driver !== 'bridge') {
      if (driver === 'host' || driver === 'null') throw failedPrecondition(`only one instance of "${driver}" network is allowed`);
      throw notFound(`plugin "${driver}" not found: this engine has the bridge driver only (overlay comes with swarm mode)`);
    }
    if (req.subnets.length > 1) throw invalidArgument('only one IPv4 --subnet is supported per network');
    if (req.gateways.length > req.subnets.length || req.ipRanges.length > req.subnets.length) {
      throw invalidArgument('every --gateway and --ip-range needs a --subnet');
    }
    const ipam = resolveIpam(
      { ...(req.subnets[0] ? { subnet: req.subnets[0] } : {}), ...(req.gateways[0] ? { gateway: req.gateways[0] } : {}), ...(req.ipRanges[0] ? { ipRange: req.ipRanges[0] } : {}) },
      this.pools,
      await this.takenBlocks(),
    );
    const id = hex(32);
    const bridge = req.options['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw invalidArgument(`invalid bridge name "${bridge}": at most 15 letters, digits, "_", "." or "-"`);
    if ([...this.networks.values()].some((n) => n.bridge === bridge)) throw conflict(`the bridge name ${bridge} is already used by another network; choose another com.docker.network.bridge.name`);
    const mtu = req.options['com.docker.network.driver.mtu'];
    if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535)) throw invalidArgument(`invalid MTU ${mtu}; use 68 to 65535`);
    const n: NetworkRecord = {
      id,
      name,
      driver,
      scope: 'local',
      created: rfc3339Nano(),
      internal: req.internal,
      attachable: req.attachable,
      labels: req.labels,
      options: req.options,
      ipam: [ipam],
      bridge,
      predefined: false,
    };
    try {
      await this.driver(n).up(n);
      this.networks.set(id, n);
      await this.save(n);
      await this.syncRules();
    } catch (err) {
      this.networks.delete(id);
      await rm(join(this.o.root, `${id}.json`), { force: true });
      await this.driver(n).down(n).catch(() => undefined);
      await this.syncRules().catch(() => undefined);
      throw err;
    }
    await this.startDns(n);
    return { id, warning: '' };
  }

  /** Address blocks a new network must not overlap: other networks and the host's routes. */
  private async takenBlocks(): Promise<TakenBlock[]> {
    const taken: TakenBlock[] = [];
    const bridges = new Set<string>();
    for (const n of this.networks.values()) {
      if (n.bridge) bridges.add(n.bridge);
      for (const c of n.ipam) taken.push({ cidr: parseCidr(c.Subnet), what: `network ${n.name} (${c.Subnet})` });
    }
    const out = await run('ip', ['-j', '-4', 'route', 'show']).catch(() => '[]');
    for (const r of JSON.parse(out || '[]') as { dst: string; dev?: string; gateway?: string }[]) {
      if (r.dst === 'default' || (r.dev && bridges.has(r.dev))) continue;
      try {
        const cidr: Cidr = r.dst.includes('/') ? parseCidr(r.dst) : parseCidr(`${r.dst}/32`);
        taken.push({ cidr, what: `the host route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
      } catch {
        // not IPv4
      }
    }
    return taken;
  }

  /** `network ls`, filtered by name, id, driver, label, type, scope, dangling. Throws InvalidArgument for an unknown filter. */
  list(filters: NetworkFilter[] = []): NetworkRecord[] {
    const used = this.usedNetworks();
    const groups = new Map<string, string[]>();
    for (const f of filters) {
      if (!['name', 'id', 'driver', 'label', 'type', 'scope', 'dangling'].includes(f.key)) throw invalidArgument(`invalid filter '${f.key}'`);
      groups.set(f.key, [...(groups.get(f.key) ?? []), f.value]);
    }
    const match = (n: NetworkRecord): boolean =>
      [...groups].every(([key, values]) =>
        values.some((v) => {
          switch (key) {
            case 'name':
              return n.name.includes(v);
            case 'id':
              return n.id.startsWith(v);
            case 'driver':
              return n.driver === v;
            case 'scope':
              return v === 'local';
            case 'type':
              if (v !== 'custom' && v !== 'builtin') throw invalidArgument(`invalid filter: 'type'='${v}'; use custom or builtin`);
              return (v === 'builtin') === n.predefined;
            case 'dangling': {
              if (!['true', 'false', '1', '0'].includes(v)) throw invalidArgument(`invalid filter 'dangling=${v}'; use true or false`);
              const dangling = !n.predefined && !used.has(n.id);
              return dangling === (v === 'true' || v === '1');
            }
            default: {
              const eq = v.indexOf('=');
              return eq < 0 ? v in n.labels : n.labels[v.slice(0, eq)] === v.slice(eq + 1);
            }
          }
        }),
      );
    return [...this.networks.values()].filter(match).sort((a, b) => a.name.localeCompare(b.name));
  }

  private usedNetworks(): Set<string> {
    const used = new Set<string>();
    for (const rec of this.records.values()) for (const id of Object.keys(state(rec).endpoints)) used.add(id);
    return used;
  }

  /** Docker's `network inspect` object. */
  inspectNetwork(n: NetworkRecord): Record<string, unknown> {
    const containers: Record<string, unknown> = {};
    for (const rec of this.records.values()) {
      const ep = state(rec).endpoints[n.id];
      if (!ep) continue;
      containers[rec.id] = {
        Name: rec.name,
        EndpointID: ep.endpointId,
        MacAddress: ep.macAddress,
        IPv4Address: `${ep.ipAddress}/${ep.prefixLen}`,
        IPv6Address: '',
      };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: n.scope,
      Driver: n.driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: n.ipam.map((c) => ({ ...c })) },
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: n.options,
      Labels: n.labels,
    };
  }

  /**
   * `network rm`. Throws NotFound, FailedPrecondition for a predefined
   * network, and Conflict while containers are attached.
   */
  async removeNetwork(ref: string): Promise<void> {
    const n = this.get(ref);
    if (n.predefined) throw failedPrecondition(`${n.name} is a pre-defined network and cannot be removed`);
    const attached = [...this.records.values()].filter((r) => state(r).endpoints[n.id]);
    if (attached.length > 0) {
      throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints (${attached.map((r) => r.name).join(', ')}); remove or disconnect them first`);
    }
    if (n.ipam[0]) await this.dns?.unlisten(n.ipam[0].Gateway).catch(() => undefined);
    this.networks.delete(n.id);
    await rm(join(this.o.root, `${n.id}.json`), { force: true });
    await this.syncRules().catch((err: unknown) => this.o.logger.warn('updating iptables failed', { error: errorMessage(err) }));
    await this.driver(n).down(n);
  }

  /** `network prune`: removes every custom network without endpoints; returns their names. */
  async prune(filters: NetworkFilter[] = []): Promise<string[]> {
    const deleted: string[] = [];
    const used = this.usedNetworks();
    for (const n of this.list(filters.filter((f) => f.key === 'label'))) {
      if (n.predefined || used.has(n.id)) continue;
      await this.removeNetwork(n.id);
      deleted.push(n.name);
    }
    return deleted;
  }

  /**
   * `network connect`: attaches a container (live when it runs). Throws
   * NotFound, InvalidArgument, Conflict (already attached, address taken).
   */
  async connect(netRef: string, containerRef: string, o: { aliases: string[]; ip: string }): Promise<void> {
    const n = this.get(netRef);
    const rec = this.o.containers().get(containerRef);
    const mode = rec.spec.network_mode;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw invalidArgument(`container ${rec.name} uses --network ${mode.startsWith('container:') ? 'container' : mode} and cannot be connected to other networks`);
    }
    if (n.driver !== 'bridge') throw invalidArgument(`container cannot be connected to the ${n.name} network; only bridge networks can be added`);
    const st = state(rec);
    if (st.endpoints[n.id]) throw conflict(`endpoint with name ${rec.name} already exists in network ${n.name}`);
    const ep = this.newEndpoint(rec, n, o.aliases, o.ip);
    st.endpoints[n.id] = ep;
    this.records.set(rec.id, rec);
    try {
      if (st.sandboxKey !== '') {
        const hasGateway = Object.values(st.endpoints).some((e) => e !== ep && !this.networks.get(e.networkId)?.internal);
        await this.driver(n).join(n, ep, { netns: st.sandboxKey, defaultRoute: !hasGateway && !n.internal });
        await this.syncRules();
        await this.writeEtcFiles(rec);
      }
      await this.o.containers().persist(rec);
    } catch (err) {
      delete st.endpoints[n.id];
      await this.driver(n).leave(n, ep).catch(() => undefined);
      throw err;
    }
  }

  /** `network disconnect`. Throws NotFound, or Conflict when the container is not attached. */
  async disconnect(netRef: string, containerRef: string, force: boolean): Promise<void> {
    const n = this.get(netRef);
    let rec: ContainerRecord;
    try {
      rec = this.o.containers().get(containerRef);
    } catch (err) {
      if (force) return;
      throw err;
    }
    const st = state(rec);
    const ep = st.endpoints[n.id];
    if (!ep) throw conflict(`container ${rec.id} is not connected to network ${n.name}`);
    await this.driver(n).leave(n, ep);
    delete st.endpoints[n.id];
    // Ports published through this network's address go with it.
    const gone = st.ports.length;
    if (st.sandboxKey !== '' && gone > 0) await this.restartProxies(rec);
    await this.syncRules().catch((err: unknown) => this.o.logger.warn('updating iptables failed', { error: errorMessage(err) }));
    if (st.sandboxKey !== '') await this.writeEtcFiles(rec).catch(() => undefined);
    await this.o.containers().persist(rec);
  }

  // ---- NetworkPort --------------------------------------------------------

  private async createEndpoints(rec: ContainerRecord): Promise<void> {
    const spec = rec.spec;
    let mode = spec.network_mode === '' || spec.network_mode === 'default' ? 'bridge' : spec.network_mode;
    const st: Networking = { endpoints: {}, sandboxKey: '', ports: [], exposed: [] };
    const hasPorts = spec.port_bindings.length > 0 || spec.publish_all;
    if (mode.startsWith('container:')) {
      const other = this.o.containers().get(mode.slice('container:'.length));
      if (other.id === rec.id) throw invalidArgument('a container cannot share its own network namespace');
      if (hasPorts) throw invalidArgument('conflicting options: port publishing and the container type network mode');
      if (spec.network_aliases.length > 0 || spec.ipv4_address) throw invalidArgument('conflicting options: network aliases or --ip and the container type network mode');
      mode = `container:${other.id}`;
    } else if (mode === 'host' || mode === 'none') {
      if (spec.network_aliases.length > 0) throw invalidArgument('network-scoped aliases are supported only for containers in user defined networks');
      if (mode === 'none' && hasPorts) throw invalidArgument('conflicting options: port publishing and the none network mode');
    } else {
      const n = this.get(mode);
      if (n.driver === 'host' || n.driver === 'null') {
        mode = n.name;
      } else {
        if (n.name === 'bridge' && spec.network_aliases.length > 0) {
          throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
        }
        if (n.name === 'bridge' && spec.ipv4_address) throw invalidArgument('user specified IP address is supported on user defined networks only');
        const ep = this.newEndpoint(rec, n, spec.network_aliases, spec.ipv4_address);
        st.endpoints[n.id] = ep;
        mode = n.name === 'bridge' ? 'bridge' : spec.network_mode;
      }
    }
    for (const l of spec.links) this.o.containers().get(l.split(':')[0]!);
    for (const h of spec.extra_hosts) {
      const sep = h.indexOf(':');
      if (sep <= 0) throw invalidArgument(`bad format for add-host: "${h}"; use host:ip`);
    }
    if (mode !== 'host' && !mode.startsWith('container:')) {
      st.exposed = exposedPorts(await this.o.imageExposedPorts(rec), spec.expose, spec.port_bindings);
      wantedPorts(spec.port_bindings, spec.publish_all, st.exposed);
    }
    spec.network_mode = mode;
    rec.network = st;
    if (Object.keys(st.endpoints).length > 0) this.records.set(rec.id, rec);
  }

  private newEndpoint(rec: ContainerRecord, n: NetworkRecord, aliases: string[], ip: string): EndpointState {
    const cfg = n.ipam[0];
    if (!cfg) throw failedPrecondition(`network ${n.name} has no address configuration`);
    const used = new Set<string>();
    for (const r of this.records.values()) {
      if (r.id === rec.id) continue;
      const e = state(r).endpoints[n.id];
      if (e) used.add(e.ipAddress);
    }
    const addr = allocateAddress(cfg, used, ip || undefined);
    const endpointId = hex(32);
    const st = rec.network;
    const taken = new Set(Object.values(st?.endpoints ?? {}).map((e) => e.ifName));
    let i = 0;
    while (taken.has(`eth${i}`)) i++;
    return {
      networkId: n.id,
      endpointId,
      ipAddress: addr,
      prefixLen: Number(cfg.Subnet.split('/')[1]),
      gateway: cfg.Gateway,
      macAddress: macFor(addr),
      aliases: [...aliases],
      requestedIp: ip,
      ifName: `eth${i}`,
      hostVeth: `veth${endpointId.slice(0, 7)}`,
    };
  }

  async setUp(rec: ContainerRecord, signal: AbortSignal): Promise<SandboxMode> {
    const mode = rec.spec.network_mode;
    if (mode === 'host' || mode === 'none') {
      await this.writeEtcFiles(rec);
      return mode;
    }
    if (mode.startsWith('container:')) {
      const other = this.o.containers().get(mode.slice('container:'.length));
      if (other.spec.network_mode === 'host') {
        await this.writeEtcFiles(rec, other);
        return 'host';
      }
      const key = (other.network)?.sandboxKey ?? '';
      if (other.state.status !== 'running' || key === '') {
        throw failedPrecondition(`cannot join network of a non running container: ${other.name}; start it first`);
      }
      await this.writeEtcFiles(rec, other);
      return { netnsPath: key };
    }
    const st = state(rec);
    this.records.set(rec.id, rec);
    const netns = join(this.o.netnsDir, rec.id);
    try {
      await createNetns(netns, signal);
      st.sandboxKey = netns;
      let routed = false;
      for (const ep of Object.values(st.endpoints)) {
        const n = this.networks.get(ep.networkId);
        if (!n) throw notFound(`network ${ep.networkId} not found; it was removed, so disconnect the container from it`);
        const defaultRoute = !routed && !n.internal;
        if (defaultRoute) routed = true;
        await this.driver(n).up(n, signal);
        await this.driver(n).join(n, ep, { netns, defaultRoute, signal });
      }
      if (Object.keys(st.endpoints).length === 0) await run('nsenter', [`--net=${netns}`, 'ip', 'link', 'set', 'lo', 'up']);
      await this.publishPorts(rec);
      await this.syncRules();
      this.applyLinkEnv(rec);
      await this.writeEtcFiles(rec);
    } catch (err) {
      await this.tearDown(rec).catch(() => undefined);
      throw err;
    }
    return { netnsPath: netns };
  }

  private async publishPorts(rec: ContainerRecord): Promise<void> {
    const st = state(rec);
    const ep = this.primaryEndpoint(rec);
    const wanted = wantedPorts(rec.spec.port_bindings, rec.spec.publish_all, st.exposed);
    if (wanted.length === 0) return;
    if (!ep) return;
    const others: PortMapping[] = [];
    for (const r of this.records.values()) if (r.id !== rec.id) others.push(...state(r).ports);
    const mine: PortMapping[] = [];
    const proxies: PortProxy[] = [];
    this.proxies.set(rec.id, proxies);
    for (const w of wanted) {
      const specific = w.hostPort !== '' && !w.hostPort.includes('-');
      let done = false;
      let lastErr: unknown;
      const start = this.nextRandomPort;
      for (const port of candidatePorts(w, start)) {
        const m: PortMapping = { containerPort: w.containerPort, protocol: w.protocol, hostIp: w.hostIp, hostPort: port };
        if ([...others, ...mine].some((x) => clashes(x, m))) {
          lastErr = conflict(`Bind for ${w.hostIp || '0.0.0.0'}:${port} failed: port is already allocated; publish another host port or stop the container that uses it`);
          if (specific) break;
          continue;
        }
        try {
          proxies.push(await openProxy({ protocol: w.protocol, hostIp: w.hostIp, hostPort: port, targetIp: ep.ipAddress, targetPort: w.containerPort }));
        } catch (err) {
          lastErr = err;
          if (specific || !isConflict(err)) break;
          continue;
        }
        if (w.hostPort === '') this.nextRandomPort = port + 1;
        mine.push(m);
        done = true;
        break;
      }
      if (!done) {
        st.ports = mine;
        if (lastErr instanceof Error) throw lastErr;
        throw conflict(`no free host port in ${w.hostPort || 'the ephemeral range'} for ${w.containerPort}/${w.protocol}`);
      }
    }
    st.ports = mine;
  }

  /**
   * Docker's legacy link variables (DB_PORT_5432_TCP_ADDR, …) for each
   * --link, replacing those of the previous start; the container's own
   * variables win. Throws FailedPrecondition when a linked container is not
   * running.
   */
  private applyLinkEnv(rec: ContainerRecord): void {
    const st = state(rec);
    const previous = new Set(st.linkEnv ?? []);
    const env = rec.config.env.filter((e) => !previous.has(e));
    const keys = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
    const added: string[] = [];
    for (const l of rec.spec.links) {
      const [target = '', alias = target] = l.split(':');
      const t = this.o.containers().get(target);
      const tst = t.network;
      const ep = tst ? Object.values(tst.endpoints)[0] : undefined;
      if (t.state.status !== 'running' || !ep || !tst) {
        throw failedPrecondition(`Cannot link to a non running container: /${t.name} AS /${rec.name}/${alias}; start ${t.name} first`);
      }
      for (const e of linkEnv({ alias, name: `/${t.name}`, containerName: rec.name, ip: ep.ipAddress, exposed: tst.exposed, env: t.config.env })) {
        const k = e.slice(0, e.indexOf('='));
        if (keys.has(k)) continue;
        keys.add(k);
        added.push(e);
      }
    }
    rec.config.env = [...added, ...env];
    st.linkEnv = added;
  }

  /** Re-opens the proxies of a running container (daemon restart, disconnect). */
  private async restartProxies(rec: ContainerRecord): Promise<void> {
    for (const p of this.proxies.get(rec.id) ?? []) await p.close();
    this.proxies.delete(rec.id);
    const st = state(rec);
    const ep = this.primaryEndpoint(rec);
    if (!ep) {
      st.ports = [];
      return;
    }
    const proxies: PortProxy[] = [];
    this.proxies.set(rec.id, proxies);
    for (const m of st.ports) {
      try {
        proxies.push(await openProxy({ protocol: m.protocol, hostIp: m.hostIp, hostPort: m.hostPort, targetIp: ep.ipAddress, targetPort: m.containerPort }));
      } catch (err) {
        this.o.logger.error('re-opening a published port failed', { 'container.id': rec.id, port: m.hostPort, error: errorMessage(err) });
      }
    }
  }

  /** The endpoint published ports lead to: the first one, in attach order. */
  private primaryEndpoint(rec: ContainerRecord): EndpointState | undefined {
    return Object.values(state(rec).endpoints)[0];
  }

  async tearDown(rec: ContainerRecord): Promise<void> {
    const st = rec.network;
    if (!st) return;
    for (const p of this.proxies.get(rec.id) ?? []) await p.close().catch(() => undefined);
    this.proxies.delete(rec.id);
    const hadPorts = st.ports.length > 0;
    st.ports = [];
    for (const ep of Object.values(st.endpoints)) {
      const n = this.networks.get(ep.networkId);
      if (n) await this.driver(n).leave(n, ep);
    }
    if (st.sandboxKey !== '') await removeNetns(st.sandboxKey);
    st.sandboxKey = '';
    if (hadPorts) await this.syncRules();
  }

  async restore(rec: ContainerRecord): Promise<void> {
    const st = rec.network;
    if (!st) return;
    this.records.set(rec.id, rec);
    if (st.sandboxKey !== '' && st.ports.length > 0) await this.restartProxies(rec);
  }

  async remove(rec: ContainerRecord): Promise<void> {
    await this.tearDown(rec);
    this.records.delete(rec.id);
    if ((rec.network)?.endpoints) await this.syncRules().catch(() => undefined);
  }

  inspect(rec: ContainerRecord): Record<string, unknown> {
    const st = state(rec);
    const networks: Record<string, unknown> = {};
    const mode = rec.spec.network_mode;
    const running = st.sandboxKey !== '';
    for (const ep of Object.values(st.endpoints)) {
      const n = this.networks.get(ep.networkId);
      const name = n?.name ?? ep.networkId;
      const user = name !== 'bridge';
      networks[name] = {
        IPAMConfig: ep.requestedIp ? { IPv4Address: ep.requestedIp } : null,
        Links: null,
        Aliases: user ? ep.aliases : null,
        MacAddress: running ? ep.macAddress : '',
        DriverOpts: null,
        NetworkID: ep.networkId,
        EndpointID: running ? ep.endpointId : '',
        Gateway: running ? ep.gateway : '',
        IPAddress: running ? ep.ipAddress : '',
        IPPrefixLen: running ? ep.prefixLen : 0,
        IPv6Gateway: '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        DNSNames: user ? [rec.name, ...ep.aliases, rec.id.slice(0, 12)] : null,
      };
    }
    if (mode === 'host' || mode === 'none') {
      const n = this.list().find((x) => x.name === mode);
      networks[mode] = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: n?.id ?? '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null };
    }
    const primary = this.primaryEndpoint(rec);
    const onBridge = primary && this.networks.get(primary.networkId)?.name === 'bridge' && running;
    return {
      Bridge: '',
      SandboxID: running ? rec.id : '',
      SandboxKey: mode.startsWith('container:') ? '' : st.sandboxKey,
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: mode === 'host' || mode.startsWith('container:') ? {} : inspectPorts(st.exposed, st.ports),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: onBridge ? primary.endpointId : '',
      Gateway: onBridge ? primary.gateway : '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: onBridge ? primary.ipAddress : '',
      IPPrefixLen: onBridge ? primary.prefixLen : 0,
      IPv6Gateway: '',
      MacAddress: onBridge ? primary.macAddress : '',
      Networks: networks,
    };
  }

  summary(rec: ContainerRecord): { ports: string; networks: string } {
    const st = state(rec);
    const mode = rec.spec.network_mode;
    const names = Object.values(st.endpoints).map((ep) => this.networks.get(ep.networkId)?.name ?? ep.networkId);
    if (mode === 'host' || mode === 'none') names.push(mode);
    return { ports: mode === 'host' ? '' : formatPorts(st.exposed, st.ports), networks: names.join(',') };
  }

  /** `port`: the running container's published ports. */
  ports(rec: ContainerRecord): PortMapping[] {
    return [...state(rec).ports];
  }

  // ---- names (for the embedded DNS) ----------------------------------------

  /**
   * The addresses `name` has on a network, as seen by the container
   * `askerId` (its links count too): container names, aliases, short IDs.
   */
  resolveName(networkId: string, name: string, askerId?: string): string[] {
    const q = name.toLowerCase().replace(/\.$/, '');
    const out: string[] = [];
    let asker: ContainerRecord | undefined;
    for (const rec of this.records.values()) {
      const st = state(rec);
      const ep = st.endpoints[networkId];
      if (!ep || st.sandboxKey === '') continue;
      if (askerId === rec.id) asker = rec;
      const names = [rec.name, rec.id.slice(0, 12), ...ep.aliases].map((s) => s.toLowerCase());
      if (names.includes(q)) out.push(ep.ipAddress);
    }
    if (asker) {
      for (const l of asker.spec.links) {
        const [target = '', alias = target] = l.split(':');
        if (alias.toLowerCase() !== q) continue;
        try {
          const t = this.o.containers().get(target);
          const ep = state(t).endpoints[networkId];
          if (ep && state(t).sandboxKey !== '') out.push(ep.ipAddress);
        } catch {
          // the linked container is gone
        }
      }
    }
    return [...new Set(out)];
  }

  /** The container name behind an address on a network (PTR answers). */
  reverseName(networkId: string, ip: string): string | undefined {
    for (const rec of this.records.values()) {
      const st = state(rec);
      const ep = st.endpoints[networkId];
      if (ep && st.sandboxKey !== '' && ep.ipAddress === ip) return rec.name;
    }
    return undefined;
  }

  networkList(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  // ---- files and rules ----------------------------------------------------

  /** /etc/hosts and /etc/resolv.conf for the container (from `from` for container:X). */
  private async writeEtcFiles(rec: ContainerRecord, from?: ContainerRecord): Promise<void> {
    const hostResolv = await readFile(this.o.resolvConfPath ?? '/etc/resolv.conf', 'utf8').catch(() => '');
    if (from) {
      await writeFile(rec.hostsPath, await readFile(from.hostsPath, 'utf8').catch(() => DEFAULT_HOSTS_HEAD));
      await writeFile(rec.resolvConfPath, await readFile(from.resolvConfPath, 'utf8').catch(() => hostResolv));
      return;
    }
    const mode = rec.spec.network_mode;
    const primary = this.primaryEndpoint(rec);
    const hostGateway = primary?.gateway ?? this.list().find((n) => n.name === 'bridge')?.ipam[0]?.Gateway ?? '';
    if (mode === 'host') {
      const hosts = await readFile('/etc/hosts', 'utf8').catch(() => DEFAULT_HOSTS_HEAD);
      const extra = containerHosts({ hostname: rec.config.hostname, addresses: [], extraHosts: rec.spec.extra_hosts, links: [], hostGateway }).slice(DEFAULT_HOSTS_HEAD.length);
      await writeFile(rec.hostsPath, hosts + extra);
      await writeFile(rec.resolvConfPath, hostResolv);
      return;
    }
    const links: HostsLink[] = [];
    for (const l of rec.spec.links) {
      const [target = '', alias = target] = l.split(':');
      try {
        const t = this.o.containers().get(target);
        const tst = t.network;
        const tep = tst && primary ? (tst.endpoints[primary.networkId] ?? Object.values(tst.endpoints)[0]) : undefined;
        if (tep) links.push({ alias, name: t.name, hostname: t.config.hostname, ip: tep.ipAddress });
      } catch {
        // a link to a container that is gone leaves no entry
      }
    }
    const st = state(rec);
    const hosts = containerHosts({
      hostname: rec.config.hostname,
      domainname: rec.config.domainname,
      addresses: Object.values(st.endpoints).map((ep) => ep.ipAddress),
      extraHosts: rec.spec.extra_hosts,
      links,
      hostGateway,
    });
    await writeFile(rec.hostsPath, hosts);
    const user = primary && this.networks.get(primary.networkId)?.name !== 'bridge';
    const dnsOn = user && this.dns !== undefined;
    const resolv = containerResolvConf(hostResolv, {
      ...(dnsOn && primary ? { embedded: primary.gateway } : {}),
      dns: rec.spec.dns,
      search: rec.spec.dns_search,
      options: rec.spec.dns_options,
    });
    await writeFile(rec.resolvConfPath, resolv);
  }

  private ruleState(): RuleState {
    const s: RuleState = { networks: [], ports: [] };
    for (const n of this.networks.values()) {
      if (n.driver !== 'bridge' || !n.ipam[0]) continue;
      s.networks.push({ bridge: n.bridge, subnet: n.ipam[0].Subnet, gateway: n.ipam[0].Gateway, internal: n.internal });
    }
    for (const rec of this.records.values()) {
      const st = state(rec);
      const ep = this.primaryEndpoint(rec);
      const n = ep && this.networks.get(ep.networkId);
      if (!ep || !n) continue;
      for (const m of st.ports) {
        s.ports.push({ bridge: n.bridge, containerIp: ep.ipAddress, containerPort: m.containerPort, protocol: m.protocol, hostIp: m.hostIp, hostPort: m.hostPort });
      }
    }
    return s;
  }

  private async syncRules(): Promise<void> {
    await this.iptables?.sync();
  }
}
