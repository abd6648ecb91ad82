// IPv4 addresses as unsigned 32-bit numbers, and CIDR blocks over them.
import { invalidArgument } from '@shoal/api';

export interface Cidr {
  /** The network address (host bits cleared). */
  base: number;
  prefix: number;
}

/** "172.17.0.2" → 0xac110002. Throws InvalidArgument for anything but a dotted IPv4 address. */
export function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw invalidArgument(`invalid IPv4 address: "${s}"; use dotted form such as 172.18.0.2`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw invalidArgument(`invalid IPv4 address: "${s}"; each part runs from 0 to 255`);
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

export function isIpv4(s: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split('.').every((p) => Number(p) <= 255);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * "172.18.0.0/16" → {base, prefix}. With `strict`, host bits must be zero
 * (docker refuses "172.18.0.1/16" as a subnet). Throws InvalidArgument.
 */
export function parseCidr(s: string, strict = false): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32 || !isIpv4(m[1]!)) throw invalidArgument(`invalid CIDR address: ${s}; use address/prefix such as 172.18.0.0/16`);
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  const base = (ip & mask(prefix)) >>> 0;
  if (strict && base !== ip) {
    throw invalidArgument(`invalid subnet ${s}: it has host bits set; use ${formatCidr({ base, prefix })}`);
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** The address part of "10.0.0.1/24" and its prefix, keeping host bits (for --bip). Throws InvalidArgument. */
export function parseIpWithPrefix(s: string): { ip: number; cidr: Cidr } {
  const c = parseCidr(s);
  return { ip: parseIp(s.split('/')[0]!), cidr: c };
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function last(c: Cidr): number {
  return (c.base + size(c) - 1) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

/** Whether `inner` lies entirely within `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}
