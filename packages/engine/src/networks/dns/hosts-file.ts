import { invalidArgument } from '@shoal/api';

/** A `--link` target as it appears in the linking container's /etc/hosts. */
export interface HostsLink {
  alias: string;
  /** The target container's name, with or without the leading "/". */
  name: string;
  /** The target's hostname; Docker's default is its 12-character ID prefix. */
  hostname?: string;
  ip: string;
}

export interface ContainerHostsOptions {
  hostname: string;
  domainname?: string;
  /** The container's own addresses, one line each (none for --network none). */
  addresses: string[];
  /** `--add-host` values as "name:ip" (the first ":" splits, so IPv6 addresses work). */
  extraHosts: string[];
  links: HostsLink[];
  /** The address "host-gateway" in --add-host stands for. */
  hostGateway?: string;
}

/** Docker's fixed head of every container's /etc/hosts. */
const DEFAULT_LINES = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/**
 * A container's /etc/hosts laid out as Docker writes it: the localhost and IPv6 lines, then
 * `--add-host` lines, then one line per link ("IP\talias hostname name", the name left out when it
 * equals the alias), then "IP\tfqdn [hostname]" for each of the container's addresses.
 * Throws InvalidArgument for an --add-host value without ":" or with "host-gateway" when no
 * host gateway address is known.
 */
export function containerHosts(o: ContainerHostsOptions): string {
  const lines = [...DEFAULT_LINES];
  for (const entry of o.extraHosts) {
    const sep = entry.indexOf(':');
    if (sep <= 0 || sep === entry.length - 1) {
      throw invalidArgument(`Invalid --add-host "${entry}": use host:ip.`);
    }
    const host = entry.slice(0, sep);
    let ip = entry.slice(sep + 1);
    if (ip === 'host-gateway') {
      if (o.hostGateway === undefined || o.hostGateway === '') {
        throw invalidArgument(`Cannot add "${host}:host-gateway" to /etc/hosts: this daemon has no host gateway address; give an IP address instead.`);
      }
      ip = o.hostGateway;
    }
    lines.push(`${ip}\t${host}`);
  }
  for (const link of o.links) {
    const name = link.name.replace(/^\//, '');
    const names = [link.alias];
    if (link.hostname !== undefined && link.hostname !== '' && !names.includes(link.hostname)) names.push(link.hostname);
    if (name !== link.alias && !names.includes(name)) names.push(name);
    lines.push(`${link.ip}\t${names.join(' ')}`);
  }
  // A hostname may carry the domain itself ("web.example.com"); the line lists the FQDN and the bare name.
  let fqdn = o.hostname;
  if (o.domainname !== undefined && o.domainname !== '') fqdn += `.${o.domainname}`;
  const dot = fqdn.indexOf('.');
  const hosts = dot > 0 ? `${fqdn} ${fqdn.slice(0, dot)}` : fqdn;
  for (const ip of o.addresses) lines.push(`${ip}\t${hosts}`);
  return lines.join('\n') + '\n';
}
