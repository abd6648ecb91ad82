// `-p`, `--expose`: docker's port syntax (nat.ParsePortSpec), with its errors.
import type { PortBinding } from '@shoal/api';
import { invalidFlag } from '../cli-error.js';

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/** "80" | "8000-8010" → [first, last]. Throws with docker's wording. */
function portRange(value: string, flag: string, whole: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value);
  if (!m) throw invalidFlag(whole, flag, `invalid ${what} port: ${value || '(empty)'}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || a > 65535 || b < 1 || b > 65535) throw invalidFlag(whole, flag, `invalid ${what} port: ${value}: ports run from 1 to 65535`);
  if (b < a) throw invalidFlag(whole, flag, `invalid ${what} port range: ${value}: the end is before the start`);
  return [a, b];
}

function splitProto(raw: string, flag: string): [string, string] {
  const slash = raw.lastIndexOf('/');
  if (slash < 0) return [raw, 'tcp'];
  const proto = raw.slice(slash + 1).toLowerCase();
  if (!PROTOCOLS.has(proto)) throw invalidFlag(raw, flag, `invalid proto: ${proto}; use tcp, udp or sctp`);
  return [raw.slice(0, slash), proto];
}

/**
 * Parses one `-p` value: `[ip:][hostPort]:containerPort[/proto]` or
 * `containerPort[/proto]`, where ports may be ranges of equal length (or a
 * host range for a single container port). Throws UsageError.
 */
export function parsePublish(value: string): PortBinding[] {
  const flag = '-p, --publish';
  const [rest, protocol] = splitProto(value, flag);
  let hostIp = '';
  let hostPart = '';
  let containerPart: string;
  // [v6]:host:container
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  const parts = v6 ? [v6[1]!, ...v6[2]!.split(':')] : rest.split(':');
  if (parts.length === 1) containerPart = parts[0]!;
  else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
  else if (parts.length === 3) [hostIp, hostPart, containerPart] = parts as [string, string, string];
  else throw invalidFlag(value, flag, 'too many colons; use [ip:][hostPort:]containerPort[/protocol]');
  if (hostIp !== '' && !isIp(hostIp)) throw invalidFlag(value, flag, `invalid IP address: ${hostIp}`);
  const [c0, c1] = portRange(containerPart, flag, value, 'containerPort');
  const out: PortBinding[] = [];
  if (hostPart === '') {
    for (let p = c0; p <= c1; p++) out.push({ container_port: p, protocol, host_ip: hostIp, host_port: '' });
    return out;
  }
  const [h0, h1] = portRange(hostPart, flag, value, 'hostPort');
  if (c0 === c1 && h1 > h0) {
    // one container port, a host range to choose from
    out.push({ container_port: c0, protocol, host_ip: hostIp, host_port: `${h0}-${h1}` });
    return out;
  }
  if (h1 - h0 !== c1 - c0) throw invalidFlag(value, flag, `invalid ranges specified for container and host ports: ${containerPart} and ${hostPart} differ in length`);
  for (let i = 0; i <= c1 - c0; i++) out.push({ container_port: c0 + i, protocol, host_ip: hostIp, host_port: String(h0 + i) });
  return out;
}

/** Parses one `--expose` value ("80", "80/udp", "8000-8010") into "port/proto" keys. Throws UsageError. */
export function parseExpose(value: string): string[] {
  const flag = '--expose';
  const [rest, proto] = splitProto(value, flag);
  const [a, b] = portRange(rest, flag, value, 'range format for --expose:');
  const out: string[] = [];
  for (let p = a; p <= b; p++) out.push(`${p}/${proto}`);
  return out;
}

function isIp(s: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s)) return s.split('.').every((o) => Number(o) <= 255);
  return /^[0-9a-fA-F:]+$/.test(s) && s.includes(':');
}

/** `--add-host name:ip` (also name=ip; "host-gateway" is kept for the daemon). Throws UsageError. */
export function validateExtraHost(value: string): string {
  const sep = value.includes('=') ? value.indexOf('=') : value.indexOf(':');
  const name = value.slice(0, sep);
  const ip = value.slice(sep + 1);
  if (sep <= 0 || ip === '') throw invalidFlag(value, '--add-host', 'bad format for add-host; use host:ip');
  if (ip !== 'host-gateway' && !isIp(ip.replace(/^\[(.*)\]$/, '$1'))) throw invalidFlag(value, '--add-host', `invalid IP address in add-host: "${ip}"`);
  return `${name}:${ip.replace(/^\[(.*)\]$/, '$1')}`;
}

/** `--dns IP`. Throws UsageError. */
export function validateDns(value: string): string {
  if (!isIp(value)) throw invalidFlag(value, '--dns', `${value} is not an ip address`);
  return value;
}

/** `--ip`. Throws UsageError. */
export function validateIpv4(value: string): string {
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(value) || !value.split('.').every((o) => Number(o) <= 255)) {
    throw invalidFlag(value, '--ip', `${value} is not an IPv4 address`);
  }
  return value;
}

/** `--link name[:alias]`. Throws UsageError. */
export function validateLink(value: string): string {
  const [name = '', alias, ...rest] = value.split(':');
  if (name === '' || rest.length > 0 || alias === '') throw invalidFlag(value, '--link', 'invalid format for links; use name:alias');
  return alias === undefined ? name : `${name}:${alias}`;
}
