// System commands: version, info, events, df, prune.
import type { ContainerSummary__Output, DiskUsageEntry__Output, Event__Output, ImageSummary__Output, VersionResponse__Output } from '@shoal/api';
import { fromServiceError } from '@shoal/api';
import { unary } from '../client/connect.js';
import type { Handler } from '../context.js';
import { parseTemplate } from '../format/go-template.js';
import { goTime, humanSize, rfc3339Nano, shortId, timeAgo } from '../format/human.js';
import { renderList } from '../format/list.js';
import { confirm, parseFilters, parseTimeFlag } from './shared.js';
import { CLIENT_VERSION } from '../version.js';

function osArch(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return `${process.platform}/${arch}`;
}

export const version: Handler = async (ctx, _args, opts) => {
  const client = {
    Version: CLIENT_VERSION,
    ApiVersion: '1',
    NodeVersion: process.version,
    Os: process.platform,
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
  };
  let server: VersionResponse__Output | undefined;
  let failure: unknown;
  try {
    const { system } = await ctx.clients();
    server = await unary<VersionResponse__Output>((cb) => system.Version({}, cb), ctx.signal);
  } catch (err) {
    failure = err;
  }
  const format = opts.format as string | undefined;
  if (format !== undefined) {
    const data = {
      Client: client,
      Server: server && {
        Version: server.version,
        ApiVersion: server.api_version,
        GitCommit: server.git_commit,
        NodeVersion: server.node_version,
        Os: server.os,
        Arch: server.arch,
        KernelVersion: server.kernel_version,
        RuncVersion: server.runc_version,
      },
    };
    ctx.out(`${parseTemplate(format).execute(data)}\n`);
  } else {
    ctx.out(
      'Client:\n' +
        ` Version:           ${client.Version}\n` +
        ` API version:       ${client.ApiVersion}\n` +
        ` Node version:      ${client.NodeVersion}\n` +
        ` OS/Arch:           ${osArch()}\n`,
    );
    if (server) {
      const built = Number(server.build_time) > 0 ? new Date(Number(server.build_time) * 1000).toUTCString() : '';
      ctx.out(
        '\nServer:\n' +
          ' Engine:\n' +
          `  Version:          ${server.version}\n` +
          `  API version:      ${server.api_version}\n` +
          `  Node version:     ${server.node_version}\n` +
          `  Git commit:       ${server.git_commit}\n` +
          `  Built:            ${built}\n` +
          `  OS/Arch:          ${server.os}/${server.arch}\n` +
          `  Kernel Version:   ${server.kernel_version}\n` +
          ' runc:\n' +
          `  Version:          ${server.runc_version}\n`,
      );
    }
  }
  if (failure !== undefined) throw fromServiceError(failure);
};

type InfoJson = Record<string, unknown>;

export const info: Handler = async (ctx, _args, opts) => {
  const { system } = await ctx.clients();
  const res = await unary<{ json: string }>((cb) => system.Info({}, cb), ctx.signal);
  const obj = JSON.parse(res.json) as InfoJson;
  const format = opts.format as string | undefined;
  if (format !== undefined) {
    ctx.out(`${parseTemplate(format === 'json' ? '{{json .}}' : format).execute(obj)}\n`);
    return;
  }
  const lines: string[] = ['Client:', ` Version:    ${CLIENT_VERSION}`, ` Debug Mode: false`, '', 'Server:'];
  const put = (label: string, key: string, indent = ' '): void => {
    const v = obj[key];
    if (v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v))) return;
    lines.push(`${indent}${label}: ${Array.isArray(v) ? v.join(' ') : typeof v === 'string' ? v : JSON.stringify(v)}`);
  };
  put('Containers', 'Containers');
  put('Running', 'ContainersRunning', '  ');
  put('Paused', 'ContainersPaused', '  ');
  put('Stopped', 'ContainersStopped', '  ');
  put('Images', 'Images');
  put('Server Version', 'ServerVersion');
  put('Storage Driver', 'Driver');
  put('Logging Driver', 'LoggingDriver');
  put('Cgroup Driver', 'CgroupDriver');
  put('Cgroup Version', 'CgroupVersion');
  put('Default Runtime', 'DefaultRuntime');
  lines.push(...swarmLines(obj.Swarm as Record<string, unknown> | undefined));
  put('Security Options', 'SecurityOptions');
  put('Kernel Version', 'KernelVersion');
  put('Operating System', 'OperatingSystem');
  put('OSType', 'OSType');
  put('Architecture', 'Architecture');
  put('CPUs', 'NCPU');
  if (typeof obj.MemTotal === 'number') lines.push(` Total Memory: ${humanSize(obj.MemTotal)}`);
  put('Name', 'Name');
  put('ID', 'ID');
  put('Shoal Root Dir', 'DockerRootDir');
  put('Debug Mode', 'Debug');
  for (const w of (obj.Warnings as string[] | undefined) ?? []) lines.push(`WARNING: ${w}`);
  ctx.out(`${lines.join('\n')}\n`);
};

/** docker info's Swarm block: " Swarm: inactive", or the node's part in an active swarm. */
export function swarmLines(swarm: Record<string, unknown> | undefined): string[] {
  const state = typeof swarm?.LocalNodeState === 'string' && swarm.LocalNodeState !== '' ? swarm.LocalNodeState : 'inactive';
  const out = [` Swarm: ${state}`];
  if (!swarm || state !== 'active') return out;
  const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  out.push(`  NodeID: ${str(swarm.NodeID)}`, `  Is Manager: ${swarm.ControlAvailable === true}`);
  if (swarm.ControlAvailable === true) {
    const cluster = swarm.Cluster as { ID?: string } | undefined;
    out.push(`  ClusterID: ${cluster?.ID ?? ''}`, `  Managers: ${str(swarm.Managers)}`, `  Nodes: ${str(swarm.Nodes)}`);
  }
  out.push(`  Node Address: ${str(swarm.NodeAddr)}`);
  const managers = Array.isArray(swarm.RemoteManagers) ? (swarm.RemoteManagers as { Addr?: string }[]) : [];
  if (managers.length > 0) out.push('  Manager Addresses:', ...managers.map((m) => `   ${m.Addr ?? ''}`));
  return out;
}

/** An event as docker's `events --format` sees it. */
export function eventObject(e: Event__Output): Record<string, unknown> {
  const nanos = BigInt(e.time_nano);
  return {
    status: e.action,
    id: e.id,
    from: e.attributes.image ?? '',
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: Number(nanos / 1_000_000_000n),
    timeNano: Number(nanos),
  };
}

/** docker's default event line: `2026-11-23T15:00:00.000000000Z container start <id> (image=busybox, name=x)`. */
export function eventLine(e: Event__Output): string {
  const attrs = Object.keys(e.attributes)
    .sort()
    .map((k) => `${k}=${e.attributes[k]}`)
    .join(', ');
  return `${rfc3339Nano(e.time_nano)} ${e.type} ${e.action} ${e.id}${attrs ? ` (${attrs})` : ''}`;
}

export const events: Handler = async (ctx, _args, opts) => {
  const since = opts.since === undefined ? 0n : parseTimeFlag(opts.since as string, '--since');
  const until = opts.until === undefined ? 0n : parseTimeFlag(opts.until as string, '--until');
  const filters = parseFilters(opts.filter);
  const format = opts.format as string | undefined;
  const tmpl = format === undefined ? undefined : parseTemplate(format === 'json' ? '{{json .}}' : format);
  const { system } = await ctx.clients();
  const call = system.Events({ since: since.toString(), until: until.toString(), filters });
  const onAbort = (): void => call.cancel();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const e of call as AsyncIterable<Event__Output>) {
      ctx.out(`${tmpl ? tmpl.execute(eventObject(e)) : eventLine(e)}\n`);
    }
  } catch (err) {
    if (ctx.signal.aborted) return;
    throw fromServiceError(err);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
};

const DF_HEADERS: Record<string, string> = {
  Type: 'TYPE',
  TotalCount: 'TOTAL',
  Active: 'ACTIVE',
  Size: 'SIZE',
  Reclaimable: 'RECLAIMABLE',
};

/** One `system df` row. */
export function dfRow(e: DiskUsageEntry__Output): Record<string, unknown> {
  const size = Number(e.size);
  const rec = Number(e.reclaimable);
  const pct = size > 0 ? ` (${Math.round((rec * 100) / size)}%)` : '';
  return {
    Active: String(e.active),
    Reclaimable: `${humanSize(rec)}${pct}`,
    Size: humanSize(size),
    TotalCount: String(e.total),
    Type: e.type,
  };
}

export const df: Handler = async (ctx, _args, opts) => {
  const clients = await ctx.clients();
  const res = await unary<{ entries: DiskUsageEntry__Output[] }>((cb) => clients.system.DiskUsage({}, cb), ctx.signal);
  const format = (opts.format as string | undefined) ?? '';
  if (!opts.verbose || format !== '') {
    ctx.out(
      renderList(res.entries.map(dfRow), {
        format,
        defaultFormat: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
        headers: DF_HEADERS,
      }),
    );
    return;
  }
  const imgs = await unary<{ images: ImageSummary__Output[] }>((cb) => clients.images.List({ all: false, filters: [] }, cb));
  const ctrs = await unary<{ containers: ContainerSummary__Output[] }>((cb) =>
    clients.containers.List({ all: true, limit: 0, size: true, filters: [] }, cb),
  );
  ctx.out('Images space usage:\n\n');
  ctx.out(
    renderList(
      imgs.images.flatMap((i) =>
        (i.repo_tags.length > 0 ? i.repo_tags : ['<none>:<none>']).map((t) => {
          const colon = t.lastIndexOf(':');
          return {
            Repository: t.slice(0, colon),
            Tag: t.slice(colon + 1),
            ID: shortId(i.id),
            CreatedSince: timeAgo(Number(i.created)),
            Size: humanSize(Number(i.size)),
            Containers: String(i.containers),
          };
        }),
      ),
      {
        format: '',
        defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.Containers}}',
        headers: { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE', Containers: 'CONTAINERS' },
      },
    ),
  );
  ctx.out('\nContainers space usage:\n\n');
  ctx.out(
    renderList(
      ctrs.containers.map((c) => ({
        ID: shortId(c.id),
        Image: c.image,
        Command: JSON.stringify(c.command),
        LocalVolumes: '0',
        Size: humanSize(Number(c.size_rw)),
        RunningFor: timeAgo(Number(c.created)),
        CreatedAt: goTime(Number(c.created)),
        Status: c.status,
        Names: c.names.map((n) => n.replace(/^\//, '')).join(','),
      })),
      {
        format: '',
        defaultFormat: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
        headers: {
          ID: 'CONTAINER ID',
          Image: 'IMAGE',
          Command: 'COMMAND',
          LocalVolumes: 'LOCAL VOLUMES',
          Size: 'SIZE',
          RunningFor: 'CREATED',
          Status: 'STATUS',
          Names: 'NAMES',
        },
      },
    ),
  );
};

export const prune: Handler = async (ctx, _args, opts) => {
  const items = [
    '  - all stopped containers',
    '  - all networks not used by at least one container',
    ...(opts.volumes ? ['  - all anonymous volumes not used by at least one container'] : []),
    opts.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    '  - unused build cache',
  ];
  if (!opts.force && !(await confirm(ctx, `WARNING! This will remove:\n${items.join('\n')}\n`))) return 0;
  const { system } = await ctx.clients();
  const res = await unary<{
    deleted_containers: string[];
    deleted_images: string[];
    untagged_images: string[];
    deleted_volumes: string[];
    space_reclaimed: string;
  }>((cb) => system.Prune({ all: Boolean(opts.all), volumes: Boolean(opts.volumes), filters: parseFilters(opts.filter) }, cb));
  if (res.deleted_containers.length > 0) {
    ctx.out(`Deleted Containers:\n${res.deleted_containers.map((d) => `${d}\n`).join('')}\n`);
  }
  if (res.deleted_volumes.length > 0) ctx.out(`Deleted Volumes:\n${res.deleted_volumes.map((d) => `${d}\n`).join('')}\n`);
  if (res.untagged_images.length + res.deleted_images.length > 0) {
    ctx.out('Deleted Images:\n');
    for (const u of res.untagged_images) ctx.out(`untagged: ${u}\n`);
    for (const d of res.deleted_images) ctx.out(`deleted: ${d}\n`);
    ctx.out('\n');
  }
  ctx.out(`Total reclaimed space: ${humanSize(Number(res.space_reclaimed))}\n`);
};
