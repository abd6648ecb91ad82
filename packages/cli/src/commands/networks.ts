// `network create/ls/inspect/rm/prune/connect/disconnect` and `port`.
import { isNotFound, type ListNetworksResponse__Output, type NetworkSummary__Output, type ContainerPortsResponse__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import { unary } from '../client/connect.js';
import type { Handler } from '../context.js';
import { goTime, shortId } from '../format/human.js';
import { renderList } from '../format/list.js';
import { confirm, forEach, parseFilters, printInspect } from './shared.js';

const LS_HEADERS: Record<string, string> = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};

/** `k=v` list flags (--label, -o) into a map. Throws UsageError for an empty key. */
export function parseKeyValues(values: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of Array.isArray(values) ? (values as string[]) : []) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (key === '') throw new UsageError(`invalid argument "${v}" for "${flag}" flag: the key is empty; use key=value`);
    out[key] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

export const create: Handler = async (ctx, args, opts) => {
  const { networks } = await ctx.clients();
  if (opts.ipv6) throw new UsageError('IPv6 networks are not supported yet; leave out --ipv6');
  const ipam = opts.ipamDriver as string | undefined;
  if (ipam !== undefined && ipam !== 'default') throw new UsageError(`IPAM driver "${ipam}" is not available; only "default" is supported`);
  const res = await unary<{ id: string; warning: string }>(
    (cb) =>
      networks.Create(
        {
          name: args[0] ?? '',
          driver: (opts.driver as string | undefined) ?? 'bridge',
          subnets: list(opts.subnet),
          gateways: list(opts.gateway),
          ip_ranges: list(opts.ipRange),
          internal: Boolean(opts.internal),
          attachable: Boolean(opts.attachable),
          labels: parseKeyValues(opts.label, '--label'),
          options: parseKeyValues(opts.opt, '-o, --opt'),
        },
        cb,
      ),
    ctx.signal,
  );
  if (res.warning) ctx.err(`${res.warning}\n`);
  ctx.out(`${res.id}\n`);
};

/** One `network ls` row as docker's formatter exposes it to templates. */
export function networkRow(n: NetworkSummary__Output, trunc: boolean): Record<string, unknown> {
  const labels = n.labels ?? {};
  const row: Record<string, unknown> = {
    ID: trunc ? shortId(n.id) : n.id,
    Name: n.name,
    Driver: n.driver,
    Scope: n.scope,
    IPv6: String(n.ipv6),
    Internal: String(n.internal),
    Labels: Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(','),
    get CreatedAt() {
      return goTime(Date.parse(n.created) / 1000);
    },
  };
  Object.defineProperty(row, 'Label', { enumerable: false, value: (k: string) => labels[k] ?? '' });
  return row;
}

export const ls: Handler = async (ctx, _args, opts) => {
  const { networks } = await ctx.clients();
  const res = await unary<ListNetworksResponse__Output>((cb) => networks.List({ filters: parseFilters(opts.filter) }, cb), ctx.signal);
  const trunc = opts.trunc !== false;
  ctx.out(
    renderList(
      res.networks.map((n) => networkRow(n, trunc)),
      {
        format: (opts.format as string | undefined) ?? '',
        defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
        headers: LS_HEADERS,
        quiet: Boolean(opts.quiet),
        quietFormat: '{{.ID}}',
      },
    ),
  );
};

export const inspect: Handler = async (ctx, args, opts) => {
  const { networks } = await ctx.clients();
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const ref of args) {
    try {
      const res = await unary<{ json: string[] }>((cb) => networks.Inspect({ refs: [ref] }, cb), ctx.signal);
      found.push(...res.json.map((j) => JSON.parse(j) as unknown));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(ref);
    }
  }
  printInspect(ctx, found, opts.format as string | undefined);
  if (missing.length > 0) throw new ExitError(1, missing.map((m) => `Error: No such network: ${m}`).join('\n'));
};

export const rm: Handler = async (ctx, args, opts) => {
  const { networks } = await ctx.clients();
  return forEach(ctx, args, async (ref) => {
    try {
      await unary((cb) => networks.Remove({ ref }, cb), ctx.signal);
    } catch (err) {
      if (opts.force && isNotFound(err)) return;
      throw err;
    }
    ctx.out(`${ref}\n`);
  });
};

export const prune: Handler = async (ctx, _args, opts) => {
  if (!opts.force && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.'))) return 0;
  const { networks } = await ctx.clients();
  const res = await unary<{ deleted: string[] }>((cb) => networks.Prune({ filters: parseFilters(opts.filter) }, cb), ctx.signal);
  if (res.deleted.length > 0) ctx.out(`Deleted Networks:\n${res.deleted.map((d) => `${d}\n`).join('')}`);
};

export const connect: Handler = async (ctx, args, opts) => {
  const { networks } = await ctx.clients();
  if (list(opts.link).length > 0) throw new UsageError('--link is not supported by network connect; use --alias');
  await unary(
    (cb) =>
      networks.Connect(
        { network: args[0] ?? '', container: args[1] ?? '', aliases: list(opts.alias), ipv4_address: (opts.ip as string | undefined) ?? '' },
        cb,
      ),
    ctx.signal,
  );
};

export const disconnect: Handler = async (ctx, args, opts) => {
  const { networks } = await ctx.clients();
  await unary((cb) => networks.Disconnect({ network: args[0] ?? '', container: args[1] ?? '', force: Boolean(opts.force) }, cb), ctx.signal);
};

/** `port CONTAINER [PRIVATE_PORT[/PROTO]]`, printed like docker. */
export const port: Handler = async (ctx, args) => {
  const { networks } = await ctx.clients();
  const name = args[0] ?? '';
  const res = await unary<ContainerPortsResponse__Output>((cb) => networks.Port({ container: name }, cb), ctx.signal);
  const ports = [...res.ports].sort((a, b) => a.container_port - b.container_port || a.protocol.localeCompare(b.protocol) || a.host_port - b.host_port);
  const wanted = args[1];
  if (wanted === undefined) {
    for (const p of ports) ctx.out(`${p.container_port}/${p.protocol} -> ${p.host_ip}:${p.host_port}\n`);
    return;
  }
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(wanted);
  if (!m) throw new UsageError(`invalid port "${wanted}"; use PORT or PORT/PROTO, e.g. 80/tcp`);
  const proto = m[2] ?? 'tcp';
  const hits = ports.filter((p) => p.container_port === Number(m[1]) && p.protocol === proto);
  if (hits.length === 0) throw new ExitError(1, `Error: No public port '${m[1]}/${proto}' published for ${name}`);
  for (const p of hits) ctx.out(`${p.host_ip}:${p.host_port}\n`);
};
