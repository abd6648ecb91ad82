import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { invalidArgument } from '@shoal/api';
import { DEFAULT_NAMESERVERS, isLoopbackAddress, parseResolvConf } from './resolv-conf.js';

/** One server the embedded DNS forwards to. */
export interface Upstream {
  host: string;
  port: number;
}

/** The variable that replaces the daemon's upstream servers (tests point it at a fake server). */
export const UPSTREAMS_ENV = 'SHOAL_DNS_UPSTREAMS';

/**
 * Parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" (a bare IPv6 address means port 53).
 * Throws InvalidArgument for anything else.
 */
export function parseUpstream(value: string): Upstream {
  const v = value.trim();
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  let host: string;
  let port = '53';
  if (bracket !== null) {
    host = bracket[1] ?? '';
    port = bracket[2] ?? '53';
  } else if (isIP(v) !== 0) {
    host = v;
  } else {
    const colon = v.lastIndexOf(':');
    host = colon < 0 ? v : v.slice(0, colon);
    if (colon >= 0) port = v.slice(colon + 1);
  }
  const n = Number(port);
  if (isIP(host) === 0 || !/^\d+$/.test(port) || n < 1 || n > 65535) {
    throw invalidArgument(`Invalid DNS server "${value}": use an IP address with an optional port, like 10.0.0.2:53.`);
  }
  return { host, port: n };
}

/** Formats an upstream back to "ip:port" / "[ipv6]:port". */
export function formatUpstream(u: Upstream): string {
  return isIP(u.host) === 6 ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`;
}

/**
 * The nameservers of the daemon's resolv.conf text that the embedded DNS forwards to: loopback
 * servers (127.x, ::1) are skipped, as Docker skips them. Never throws.
 */
export function hostUpstreams(resolvConfText: string): string[] {
  return parseResolvConf(resolvConfText).nameservers.filter((ns) => !isLoopbackAddress(ns));
}

export interface DaemonUpstreamsOptions {
  env?: NodeJS.ProcessEnv;
  /** Default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The upstream servers for the daemon's embedded DNS: $SHOAL_DNS_UPSTREAMS (comma list of
 * ip[:port]) when set, else the daemon's resolv.conf without loopback servers. The forwarder
 * runs in the daemon's own namespace, so when the file lists only loopback servers (a local
 * caching resolver such as systemd-resolved) those still work and are used; with no file or no
 * servers at all, Docker's fallback 8.8.8.8/8.8.4.4.
 * Throws InvalidArgument when $SHOAL_DNS_UPSTREAMS holds something that is not ip[:port].
 */
export async function daemonUpstreams(o: DaemonUpstreamsOptions = {}): Promise<string[]> {
  const env = o.env ?? process.env;
  const fromEnv = env[UPSTREAMS_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const list = fromEnv.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const u of list) parseUpstream(u);
    return list;
  }
  let text = '';
  try {
    text = await readFile(o.resolvConfPath ?? '/etc/resolv.conf', 'utf8');
  } catch {
    // No resolv.conf: fall through to the defaults, as Docker does.
  }
  const external = hostUpstreams(text);
  if (external.length > 0) return external;
  const loopback = parseResolvConf(text).nameservers;
  return loopback.length > 0 ? loopback : [...DEFAULT_NAMESERVERS];
}
