// Volume commands: create, ls, inspect, rm, prune.
import type { ListVolumesResponse__Output, PruneVolumesResponse__Output, VolumeInfo__Output } from '@shoal/api';
import { unary } from '../client/connect.js';
import { UsageError } from '../cli-error.js';
import type { Handler } from '../context.js';
import { humanSize } from '../format/human.js';
import { renderList } from '../format/list.js';
import { confirm, forEach, parseFilters, printInspect } from './shared.js';

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

/** `k=v` pairs of repeated flags; a bare `k` means an empty value when `bareOk`. Throws UsageError. */
export function keyValues(values: string[], flag: string, bareOk: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0 || (eq < 0 && !bareOk)) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: use key=value`);
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

/** docker's `volume inspect` object. */
export function volumeJson(v: VolumeInfo__Output): Record<string, unknown> {
  const status = v.status_json ? (JSON.parse(v.status_json) as Record<string, unknown>) : undefined;
  return {
    CreatedAt: v.created_at,
    Driver: v.driver,
    Labels: Object.keys(v.labels).length > 0 ? v.labels : null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length > 0 ? v.options : null,
    Scope: v.scope,
    ...(status ? { Status: status } : {}),
  };
}

export const create: Handler = async (ctx, args, opts) => {
  const flagName = (opts.name as string | undefined) ?? '';
  const name = args[0] ?? '';
  if (flagName !== '' && name !== '' && flagName !== name) {
    throw new UsageError('conflicting options: either specify --name or provide positional arg, not both');
  }
  const req = {
    name: name || flagName,
    driver: (opts.driver as string | undefined) ?? 'local',
    driver_opts: keyValues(list(opts.opt), '--opt', false),
    labels: keyValues(list(opts.label), '--label', true),
  };
  const { volumes } = await ctx.clients();
  // docker's volume commands exit 1 (not 125) on a daemon error.
  return forEach(ctx, [''], async () => {
    const v = await unary<VolumeInfo__Output>((cb) => volumes.Create(req, cb), ctx.signal);
    ctx.out(`${v.name}\n`);
  });
};

export const ls: Handler = async (ctx, _args, opts) => {
  const { volumes } = await ctx.clients();
  const filters = parseFilters(opts.filter);
  let res: ListVolumesResponse__Output | undefined;
  const code = await forEach(ctx, [''], async () => {
    res = await unary<ListVolumesResponse__Output>((cb) => volumes.List({ filters }, cb), ctx.signal);
  });
  if (!res) return code;
  for (const w of res.warnings) ctx.err(`${w}\n`);
  const rows = res.volumes.map((v) => ({
    Name: v.name,
    Driver: v.driver,
    Scope: v.scope,
    Mountpoint: v.mountpoint,
    CreatedAt: v.created_at,
    Labels: Object.entries(v.labels)
      .map(([k, val]) => `${k}=${val}`)
      .join(','),
    Links: Number(v.ref_count) >= 0 ? String(v.ref_count) : 'N/A',
    Size: Number(v.size) >= 0 ? humanSize(Number(v.size)) : 'N/A',
  }));
  ctx.out(
    renderList(rows, {
      format: (opts.format as string | undefined) ?? '',
      defaultFormat: 'table {{.Driver}}\t{{.Name}}',
      headers: { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', CreatedAt: 'CREATED', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE' },
      quiet: Boolean(opts.quiet),
      quietFormat: '{{.Name}}',
    }),
  );
};

export const inspect: Handler = async (ctx, args, opts) => {
  const { volumes } = await ctx.clients();
  const found: unknown[] = [];
  const code = await forEach(ctx, args, async (name) => {
    found.push(volumeJson(await unary<VolumeInfo__Output>((cb) => volumes.Inspect({ name }, cb), ctx.signal)));
  });
  if (found.length > 0 || code === 0) printInspect(ctx, found, opts.format as string | undefined);
  return code;
};

export const rm: Handler = async (ctx, args, opts) => {
  const { volumes } = await ctx.clients();
  return forEach(ctx, args, async (name) => {
    await unary((cb) => volumes.Remove({ name, force: Boolean(opts.force) }, cb), ctx.signal);
    ctx.out(`${name}\n`);
  });
};

export const prune: Handler = async (ctx, _args, opts) => {
  const all = Boolean(opts.all);
  const what = all ? 'all local volumes' : 'anonymous local volumes';
  if (!opts.force && !(await confirm(ctx, `WARNING! This will remove ${what} not used by at least one container.`))) return 0;
  const { volumes } = await ctx.clients();
  const filters = parseFilters(opts.filter);
  return forEach(ctx, [''], async () => {
    const res = await unary<PruneVolumesResponse__Output>((cb) => volumes.Prune({ all, filters }, cb), ctx.signal);
    if (res.deleted.length > 0) ctx.out(`Deleted Volumes:\n${res.deleted.map((d) => `${d}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(Number(res.space_reclaimed))}\n`);
  });
};
