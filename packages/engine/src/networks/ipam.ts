// Address management for local networks: choosing a subnet from the default
// pools, checking user-given subnets, gateways and ranges, and choosing a
// container's address. Pure functions: the caller passes what is taken.
import { conflict, invalidArgument, unavailable } from '@shoal/api';
import { contains, formatCidr, formatIp, last, overlaps, parseCidr, parseIp, size, within, type Cidr } from './cidr.js';

/** One `--default-address-pool base=CIDR,size=N`: subnets of prefix `size` carved from `base`. */
export interface AddressPool {
  base: string;
  size: number;
}

/** Docker's defaults: 172.17–172.31 as /16s, then 192.168.0.0/16 as /20s. */
export const DEFAULT_POOLS: readonly AddressPool[] = [
  ...Array.from({ length: 15 }, (_, i) => ({ base: `172.${17 + i}.0.0/16`, size: 16 })),
  { base: '192.168.0.0/16', size: 20 },
];

/** Parses `base=10.10.0.0/16,size=24`. Throws InvalidArgument. */
export function parseAddressPool(value: string): AddressPool {
  const kv = new Map(value.split(',').map((p) => p.split('=', 2) as [string, string]));
  const base = kv.get('base');
  const sz = Number(kv.get('size'));
  if (!base || !Number.isInteger(sz)) throw invalidArgument(`invalid --default-address-pool "${value}"; use base=10.10.0.0/16,size=24`);
  const c = parseCidr(base, true);
  if (sz < c.prefix || sz > 30) throw invalidArgument(`invalid --default-address-pool "${value}": size must be between the base's prefix (${c.prefix}) and 30`);
  return { base, size: sz };
}

/** A network's IPAM configuration, as `network inspect` shows it. */
export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
}

export interface IpamRequest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
}

/** Something that already holds an address block: another network or a host route. */
export interface TakenBlock {
  cidr: Cidr;
  /** "network foo" or "host route 10.0.0.0/8 dev eth0". */
  what: string;
}

/**
 * The first subnet of the pools that overlaps nothing taken. Throws
 * Unavailable when the pools are exhausted.
 */
export function allocateSubnet(pools: readonly AddressPool[], taken: readonly TakenBlock[]): Cidr {
  for (const pool of pools) {
    const base = parseCidr(pool.base, true);
    const step = 2 ** (32 - pool.size);
    for (let b = base.base; b <= last(base); b = b + step) {
      const cand: Cidr = { base: b >>> 0, prefix: pool.size };
      if (!taken.some((t) => overlaps(t.cidr, cand))) return cand;
    }
  }
  throw unavailable('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network; remove unused networks or give --subnet');
}

/**
 * Resolves a network's address configuration: the given subnet (checked
 * against what is taken) or a free one from the pools, the gateway (the
 * first address unless given) and the optional allocation range. Throws
 * InvalidArgument for bad or inconsistent values and Conflict for an overlap.
 */
export function resolveIpam(req: IpamRequest, pools: readonly AddressPool[], taken: readonly TakenBlock[]): IpamConfig {
  let subnet: Cidr;
  if (req.subnet) {
    subnet = parseCidr(req.subnet, true);
    if (subnet.prefix > 30) throw invalidArgument(`subnet ${req.subnet} is too small; use a prefix of /30 or shorter`);
    const hit = taken.find((t) => overlaps(t.cidr, subnet));
    if (hit) throw conflict(`invalid pool request: Pool overlaps with other one on this address space (${formatCidr(subnet)} overlaps ${hit.what}); choose another --subnet`);
  } else {
    if (req.gateway || req.ipRange) throw invalidArgument('--gateway and --ip-range need --subnet; give the subnet they belong to');
    subnet = allocateSubnet(pools, taken);
  }
  const out: IpamConfig = { Subnet: formatCidr(subnet), Gateway: '' };
  if (req.ipRange) {
    const range = parseCidr(req.ipRange, true);
    if (!within(range, subnet)) throw invalidArgument(`--ip-range ${req.ipRange} is not inside the subnet ${formatCidr(subnet)}`);
    out.IPRange = formatCidr(range);
  }
  const gw = req.gateway ? parseIp(req.gateway) : (subnet.base + 1) >>> 0;
  if (!contains(subnet, gw) || gw === subnet.base || gw === last(subnet)) {
    throw invalidArgument(`--gateway ${formatIp(gw)} is not a usable address of the subnet ${formatCidr(subnet)}`);
  }
  out.Gateway = formatIp(gw);
  return out;
}

/**
 * A container's address on a network: `preferred` when given (checked), else
 * the lowest free address of the range (or subnet). `used` holds the
 * addresses other containers hold. Throws InvalidArgument for a preferred
 * address outside the subnet, Conflict for one in use, Unavailable when the
 * range is full.
 */
export function allocateAddress(cfg: IpamConfig, used: ReadonlySet<string>, preferred?: string): string {
  const subnet = parseCidr(cfg.Subnet);
  const reserved = new Set([formatIp(subnet.base), formatIp(last(subnet)), cfg.Gateway]);
  if (preferred) {
    const ip = parseIp(preferred);
    if (!contains(subnet, ip) || ip === subnet.base || ip === last(subnet)) {
      throw invalidArgument(`no configured subnet contains the requested address ${preferred}; use an address inside ${cfg.Subnet}`);
    }
    const s = formatIp(ip);
    if (s === cfg.Gateway || used.has(s)) throw conflict(`Address already in use: ${s} is taken on this network; choose another --ip`);
    return s;
  }
  const range = cfg.IPRange ? parseCidr(cfg.IPRange) : subnet;
  const n = size(range);
  for (let i = 0; i < n; i++) {
    const s = formatIp((range.base + i) >>> 0);
    if (!reserved.has(s) && !used.has(s)) return s;
  }
  throw unavailable(`no available addresses on the network (${cfg.IPRange ?? cfg.Subnet} is full); remove containers or use a larger subnet`);
}

/** Docker's MAC for an address: 02:42 followed by the four address bytes. */
export function macFor(ip: string): string {
  const n = parseIp(ip);
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
