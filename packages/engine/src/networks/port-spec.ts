// Published and exposed ports: what a container asks for (-p, -P, --expose,
// the image's EXPOSE), how host ports are chosen, and how docker prints them.
import { invalidArgument, type PortBinding__Output } from '@shoal/api';
import { isIpv4 } from './cidr.js';
import type { PortMapping } from './types.js';

/** Docker's (and Linux's default) ephemeral range for random host ports. */
export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

/** One wanted publication: host port "" (random), "8080" or "8000-8010". */
export interface WantedPort {
  containerPort: number;
  protocol: string;
  hostIp: string;
  hostPort: string;
}

/** "80/tcp" keys, sorted by port then protocol. */
export function sortPortKeys(keys: Iterable<string>): string[] {
  return [...new Set(keys)].sort((a, b) => {
    const [pa = '', qa = ''] = a.split('/');
    const [pb = '', qb = ''] = b.split('/');
    return Number(pa) - Number(pb) || qa.localeCompare(qb);
  });
}

function checkPort(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw invalidArgument(`invalid ${what} port ${n}: ports run from 1 to 65535`);
}

function checkProto(p: string): string {
  const proto = (p || 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw invalidArgument(`publishing ${proto} ports is not supported; use tcp or udp`);
  return proto;
}

/** The host port spec's bounds: "" → undefined, "8080" → [8080, 8080]. Throws InvalidArgument. */
export function hostPortRange(spec: string): [number, number] | undefined {
  if (spec === '') return undefined;
  const m = /^(\d+)(?:-(\d+))?$/.exec(spec);
  if (!m) throw invalidArgument(`invalid host port "${spec}"; use a port (8080) or a range (8000-8010)`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  checkPort(a, 'host');
  checkPort(b, 'host');
  if (b < a) throw invalidArgument(`invalid host port range ${spec}: the end is before the start`);
  return [a, b];
}

/**
 * Every port the container exposes ("80/tcp"): the image's, --expose, and
 * the published ones. Throws InvalidArgument for a malformed key.
 */
export function exposedPorts(imageExposed: readonly string[], expose: readonly string[], bindings: readonly PortBinding__Output[]): string[] {
  const keys = [...imageExposed, ...expose].map((k) => {
    const [p = '', proto = 'tcp'] = k.split('/');
    checkPort(Number(p), 'exposed');
    return `${Number(p)}/${proto.toLowerCase()}`;
  });
  for (const b of bindings) keys.push(`${b.container_port}/${(b.protocol || 'tcp').toLowerCase()}`);
  return sortPortKeys(keys);
}

/**
 * What a container publishes: its -p bindings, plus (with -P) every exposed
 * port not bound already, on a random host port. Throws InvalidArgument.
 */
export function wantedPorts(bindings: readonly PortBinding__Output[], publishAll: boolean, exposed: readonly string[]): WantedPort[] {
  const out: WantedPort[] = [];
  for (const b of bindings) {
    checkPort(b.container_port, 'container');
    const protocol = checkProto(b.protocol);
    hostPortRange(b.host_port);
    const hostIp = b.host_ip === '0.0.0.0' ? '' : b.host_ip;
    if (hostIp !== '' && !isIpv4(hostIp)) throw invalidArgument(`invalid host IP ${b.host_ip} for a published port; give an IPv4 address of this host`);
    out.push({ containerPort: b.container_port, protocol, hostIp, hostPort: b.host_port });
  }
  if (publishAll) {
    const bound = new Set(out.map((w) => `${w.containerPort}/${w.protocol}`));
    for (const key of exposed) {
      if (bound.has(key)) continue;
      const [p = '', proto = 'tcp'] = key.split('/');
      if (proto !== 'tcp' && proto !== 'udp') continue;
      out.push({ containerPort: Number(p), protocol: proto, hostIp: '', hostPort: '' });
    }
  }
  return out;
}

/** Whether two listeners would clash: same protocol and port, and one address covers the other. */
export function clashes(a: { protocol: string; hostIp: string; hostPort: number }, b: { protocol: string; hostIp: string; hostPort: number }): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  const ia = a.hostIp || '0.0.0.0';
  const ib = b.hostIp || '0.0.0.0';
  return ia === ib || ia === '0.0.0.0' || ib === '0.0.0.0';
}

/**
 * The candidate host ports for one wanted publication, in the order to try:
 * the given port, the given range, or the ephemeral range starting at
 * `randomStart` (so consecutive containers do not all race for the first).
 */
export function candidatePorts(w: WantedPort, randomStart: number): number[] {
  const r = hostPortRange(w.hostPort);
  if (r) return Array.from({ length: r[1] - r[0] + 1 }, (_, i) => r[0] + i);
  const n = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
  const start = EPHEMERAL_FIRST + (((randomStart - EPHEMERAL_FIRST) % n) + n) % n;
  return Array.from({ length: n }, (_, i) => EPHEMERAL_FIRST + ((start - EPHEMERAL_FIRST + i) % n));
}

/** Docker's inspect `Ports`: every exposed port, with its host bindings or null. */
export function inspectPorts(exposed: readonly string[], mappings: readonly PortMapping[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of sortPortKeys([...exposed, ...mappings.map((m) => `${m.containerPort}/${m.protocol}`)])) out[key] = null;
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.protocol}`;
    (out[key] ??= []).push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
  }
  return out;
}

/**
 * The PORTS column of `ps`: "0.0.0.0:8080->80/tcp, 443/tcp", with runs of
 * consecutive ports folded into ranges the way docker folds them.
 */
export function formatPorts(exposed: readonly string[], mappings: readonly PortMapping[]): string {
  type Item = { ip: string; host: number; port: number; proto: string };
  const items: Item[] = mappings.map((m) => ({ ip: m.hostIp || '0.0.0.0', host: m.hostPort, port: m.containerPort, proto: m.protocol }));
  const mapped = new Set(mappings.map((m) => `${m.containerPort}/${m.protocol}`));
  for (const key of exposed) {
    if (mapped.has(key)) continue;
    const [p = '', proto = 'tcp'] = key.split('/');
    items.push({ ip: '', host: 0, port: Number(p), proto });
  }
  items.sort((a, b) => a.proto.localeCompare(b.proto) || a.ip.localeCompare(b.ip) || a.port - b.port);
  const parts: string[] = [];
  let i = 0;
  while (i < items.length) {
    const first = items[i]!;
    let j = i;
    while (j + 1 < items.length) {
      const cur = items[j]!;
      const nx = items[j + 1]!;
      const hostNext = first.host === 0 ? nx.host === 0 : nx.host === cur.host + 1;
      if (nx.proto !== first.proto || nx.ip !== first.ip || nx.port !== cur.port + 1 || !hostNext) break;
      j++;
    }
    const lastItem = items[j]!;
    const ports = j > i ? `${first.port}-${lastItem.port}` : `${first.port}`;
    if (first.host === 0) parts.push(`${ports}/${first.proto}`);
    else parts.push(`${first.ip}:${j > i ? `${first.host}-${lastItem.host}` : first.host}->${ports}/${first.proto}`);
    i = j + 1;
  }
  return parts.join(', ');
}
