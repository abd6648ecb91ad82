// Image commands: ls, inspect, history, tag, rm, prune.
import type { HistoryEntry__Output, ImageSummary__Output } from '@shoal/api';
import { unary } from '../client/connect.js';
import type { Handler } from '../context.js';
import { ellipsis, goTime, humanSize, shortId, timeAgo } from '../format/human.js';
import { renderList } from '../format/list.js';
import { inspect } from './containers.js';
import { confirm, forEach, parseFilters } from './shared.js';

const IMAGE_HEADERS: Record<string, string> = {
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'VIRTUAL SIZE',
};

/** Splits "host:5000/name:tag" into repository and tag (the tag's colon comes after the last slash). */
export function splitRepoTag(ref: string): [string, string] {
  const at = ref.indexOf('@');
  const base = at >= 0 ? ref.slice(0, at) : ref;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return [base.slice(0, colon), base.slice(colon + 1)];
  return [base, '<none>'];
}

export interface ImageRowOptions {
  trunc: boolean;
  now?: number;
}

/** The rows `images` prints for one image: one per tag, or one `<none>` row. */
export function imageRows(img: ImageSummary__Output, options: ImageRowOptions): Record<string, unknown>[] {
  const digests = new Map<string, string>();
  for (const d of img.repo_digests) {
    const at = d.indexOf('@');
    if (at > 0) digests.set(d.slice(0, at), d.slice(at + 1));
  }
  const pairs: [string, string, string][] = img.repo_tags
    .filter((t) => t !== '<none>:<none>')
    .map((t) => {
      const [repo, tag] = splitRepoTag(t);
      return [repo, tag, digests.get(repo) ?? '<none>'];
    });
  if (pairs.length === 0) {
    if (digests.size > 0) for (const [repo, d] of digests) pairs.push([repo, '<none>', d]);
    else pairs.push(['<none>', '<none>', '<none>']);
  }
  const created = Number(img.created);
  const size = humanSize(Number(img.size));
  return pairs.map(([Repository, Tag, Digest]) => ({
    Containers: Number(img.containers) < 0 ? 'N/A' : String(img.containers),
    CreatedAt: goTime(created),
    CreatedSince: created > 0 ? timeAgo(created, options.now) : 'N/A',
    Digest,
    ID: options.trunc ? shortId(img.id) : img.id,
    Repository,
    SharedSize: 'N/A',
    Size: size,
    Tag,
    UniqueSize: 'N/A',
    VirtualSize: size,
  }));
}

export const images: Handler = async (ctx, args, opts) => {
  const filters = parseFilters(opts.filter);
  if (args[0] !== undefined) filters.push({ key: 'reference', value: args[0] });
  const client = (await ctx.clients()).images;
  const res = await unary<{ images: ImageSummary__Output[] }>((cb) => client.List({ all: Boolean(opts.all), filters }, cb));
  const trunc = opts.trunc !== false;
  const format = (opts.format as string | undefined) ?? '';
  if (opts.quiet && format === '') {
    const seen = new Set<string>();
    for (const img of res.images) {
      const id = trunc ? shortId(img.id) : img.id;
      if (!seen.has(id)) ctx.out(`${id}\n`);
      seen.add(id);
    }
    return;
  }
  const rows = res.images.flatMap((img) => imageRows(img, { trunc }));
  const def = opts.digests
    ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  ctx.out(renderList(rows, { format, defaultFormat: def, headers: IMAGE_HEADERS }));
};

export const imageInspect: Handler = async (ctx, args, opts) => inspect(ctx, args, { ...opts, type: 'image' });

const HISTORY_HEADERS: Record<string, string> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

/** One `history` row as docker's formatter exposes it. */
export function historyRow(h: HistoryEntry__Output, human: boolean, trunc: boolean, now?: number): Record<string, unknown> {
  const created = Number(h.created);
  const createdBy = h.created_by.replace(/\t/g, ' ');
  return {
    Comment: h.comment,
    CreatedAt: human ? goTime(created) : new Date(created * 1000).toISOString().replace(/\.000Z$/, 'Z'),
    CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
    CreatedSince: human ? timeAgo(created, now) : new Date(created * 1000).toISOString().replace(/\.000Z$/, 'Z'),
    ID: h.id === '<missing>' || !trunc ? h.id : shortId(h.id),
    Size: human ? humanSize(Number(h.size)) : String(h.size),
    Tags: h.tags,
  };
}

export const history: Handler = async (ctx, args, opts) => {
  const client = (await ctx.clients()).images;
  const res = await unary<{ entries: HistoryEntry__Output[] }>((cb) => client.History({ ref: args[0] ?? '' }, cb));
  const rows = res.entries.map((h) => historyRow(h, opts.human !== false, opts.trunc !== false));
  ctx.out(
    renderList(rows, {
      format: (opts.format as string | undefined) ?? '',
      defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
      headers: HISTORY_HEADERS,
      quiet: Boolean(opts.quiet),
      quietFormat: '{{.ID}}',
    }),
  );
};

export const tag: Handler = async (ctx, args) => {
  const client = (await ctx.clients()).images;
  await unary((cb) => client.Tag({ source: args[0] ?? '', target: args[1] ?? '' }, cb));
};

export const rmi: Handler = async (ctx, args, opts) => {
  const client = (await ctx.clients()).images;
  return forEach(ctx, args, async (ref) => {
    const res = await unary<{ untagged: string[]; deleted: string[] }>((cb) =>
      client.Remove({ ref, force: Boolean(opts.force), no_prune: opts.prune === false }, cb),
    );
    for (const u of res.untagged) ctx.out(`Untagged: ${u}\n`);
    for (const d of res.deleted) ctx.out(`Deleted: ${d}\n`);
  });
};

export const prune: Handler = async (ctx, _args, opts) => {
  const warning = opts.all
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  if (!opts.force && !(await confirm(ctx, warning))) return 0;
  const client = (await ctx.clients()).images;
  const res = await unary<{ untagged: string[]; deleted: string[]; space_reclaimed: string }>((cb) =>
    client.Prune({ all: Boolean(opts.all), filters: parseFilters(opts.filter) }, cb),
  );
  if (res.untagged.length + res.deleted.length > 0) {
    ctx.out('Deleted Images:\n');
    for (const u of res.untagged) ctx.out(`untagged: ${u}\n`);
    for (const d of res.deleted) ctx.out(`deleted: ${d}\n`);
    ctx.out('\n');
  }
  ctx.out(`Total reclaimed space: ${humanSize(Number(res.space_reclaimed))}\n`);
};
