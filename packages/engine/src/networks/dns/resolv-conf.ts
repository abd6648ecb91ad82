import { isIP } from 'node:net';

/** The directives of a resolv.conf file that containers care about. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
  /** Directives we do not interpret (sortlist, lookup, …), kept verbatim. */
  other: string[];
  /** `nameserver` values that are not IP addresses; kept only for the comment block. */
  invalid: string[];
}

/** Parses resolv.conf text the way glibc and Docker read it: the last `search`/`domain` wins, options accumulate. */
export function parseResolvConf(text: string): ResolvConf {
  const rc: ResolvConf = { nameservers: [], search: [], options: [], other: [], invalid: [] };
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/).filter((f) => f !== '');
    const [directive, ...args] = fields;
    if (directive === undefined || directive.startsWith('#') || directive.startsWith(';')) continue;
    switch (directive) {
      case 'nameserver': {
        const addr = args[0];
        if (addr === undefined) break;
        if (isIP(stripZone(addr)) === 0) rc.invalid.push(addr);
        else rc.nameservers.push(addr);
        break;
      }
      case 'domain':
      case 'search':
        if (args.length > 0) rc.search = args;
        break;
      case 'options':
        rc.options.push(...args);
        break;
      default:
        rc.other.push(line.replace(/\r$/, ''));
    }
  }
  return rc;
}

/** Whether a nameserver address only works inside the namespace that owns it (127.0.0.0/8, ::1). */
export function isLoopbackAddress(addr: string): boolean {
  const a = stripZone(addr).toLowerCase();
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) return a === '::1' || a === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(a);
  return false;
}

function stripZone(addr: string): string {
  const pct = addr.indexOf('%');
  return pct < 0 ? addr : addr.slice(0, pct);
}

/** Docker's fallback when nothing usable is left in the host's file. */
export const DEFAULT_NAMESERVERS: readonly string[] = ['8.8.8.8', '8.8.4.4'];

export interface ContainerResolvConfOptions {
  /** The embedded DNS server's address; set for containers on networks with name resolution. */
  embedded?: string;
  /** `--dns`: replaces the nameservers (with `embedded`: the servers the embedded DNS forwards to). */
  dns: string[];
  /** `--dns-search`: replaces the search line; a lone "." means no search domains. */
  search: string[];
  /** `--dns-option`: replaces the options line. */
  options: string[];
  /** Whether the container has IPv6; without it IPv6 nameservers are dropped from a legacy file, as Docker does. */
  ipv6?: boolean;
  /** Where `host` came from, for the trailing comment. Default /etc/resolv.conf. */
  sourcePath?: string;
}

/**
 * The /etc/resolv.conf for a container, following Docker's rules.
 *
 * With `embedded`: the only nameserver is the embedded server; the real servers (the host's, or
 * `--dns`) are listed in an `# ExtServers: [...]` comment (host loopback ones as `host(ip)`), and
 * `ndots:0` is added unless an ndots option is already there, so single-label container names are
 * never sent through the search list first.
 *
 * Without it (the default bridge): the host's file without loopback (and, without IPv6, IPv6)
 * nameservers, 8.8.8.8 and 8.8.4.4 when none are left; `--dns`, `--dns-search` and `--dns-option`
 * each replace their line. Unknown directives of the host's file are kept.
 * Never throws.
 */
export function containerResolvConf(host: string, o: ContainerResolvConfOptions): string {
  const rc = parseResolvConf(host);
  const overrides: string[] = [];
  let nameservers = rc.nameservers;
  let ndotsFrom = rc.options.some((opt) => optionName(opt) === 'ndots') ? 'host' : '';
  const nsOverride = o.dns.length > 0;
  if (nsOverride) {
    nameservers = [...o.dns];
    overrides.push('nameservers');
  }
  let search = rc.search;
  if (o.search.length > 0) {
    search = o.search.filter((s) => s !== '.');
    overrides.push('search');
  }
  let options = rc.options;
  if (o.options.length > 0) {
    options = [...o.options];
    ndotsFrom = options.some((opt) => optionName(opt) === 'ndots') ? 'override' : '';
    overrides.push('options');
  }

  let transform: string;
  let usedDefault = false;
  let extServers: string[] = [];
  let fileNameservers: string[];
  if (o.embedded !== undefined) {
    transform = 'internal resolver';
    extServers = nameservers.map((ns) => (!nsOverride && isLoopbackAddress(ns) ? `host(${ns})` : ns));
    if (extServers.length === 0) {
      extServers = [...DEFAULT_NAMESERVERS];
      usedDefault = true;
    }
    fileNameservers = [o.embedded];
    // The embedded server answers container names; a bad ndots would make the resolver skip it.
    options = options.filter((opt) => optionName(opt) !== 'ndots' || validNdots(opt));
    if (!options.some((opt) => optionName(opt) === 'ndots')) {
      options = [...options, 'ndots:0'];
      ndotsFrom = 'internal';
    }
  } else {
    transform = 'legacy';
    fileNameservers = nsOverride
      ? nameservers
      : nameservers.filter((ns) => !isLoopbackAddress(ns) && ((o.ipv6 ?? false) || isIP(stripZone(ns)) !== 6));
    if (fileNameservers.length === 0) {
      fileNameservers = [...DEFAULT_NAMESERVERS];
      usedDefault = true;
    }
  }

  const lines: string[] = ['# Generated by Shoal.', ''];
  for (const ns of fileNameservers) lines.push(`nameserver ${ns}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  lines.push(...rc.other);
  lines.push('', `# Based on host file: '${o.sourcePath ?? '/etc/resolv.conf'}' (${transform})`);
  if (usedDefault) lines.push('# Used default nameservers.');
  if (extServers.length > 0) lines.push(`# ExtServers: [${extServers.join(' ')}]`);
  if (rc.invalid.length > 0) lines.push(`# Invalid nameservers: [${rc.invalid.join(' ')}]`);
  lines.push(`# Overrides: [${overrides.join(' ')}]`);
  if (ndotsFrom !== '') lines.push(`# Option ndots from: ${ndotsFrom}`);
  return lines.join('\n') + '\n';
}

function optionName(opt: string): string {
  const colon = opt.indexOf(':');
  return colon < 0 ? opt : opt.slice(0, colon);
}

function validNdots(opt: string): boolean {
  return /^ndots:\d+$/.test(opt);
}
