// Container commands that are one request (or one per container) and a printout.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { ContainerStats__Output, ContainerSummary__Output, OutputFrame__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import { unary } from '../client/connect.js';
import type { Handler } from '../context.js';
import { bytesSize, ellipsis, goTime, humanSize, shortId, timeAgo } from '../format/human.js';
import { renderList } from '../format/list.js';
import { tabulate } from '../format/tabwriter.js';
import { buildResources, parseRestartPolicy, type RunFlags } from '../run/spec.js';
import { confirm, forEach, parseFilters, parseTimeFlag, printInspect } from './shared.js';
import { parseSignal } from '@shoal/api/units';
import { invalidFlag } from '../cli-error.js';

const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
};

export interface PsRowOptions {
  trunc: boolean;
  now?: number;
}

/** One `ps` row as docker's formatter exposes it to templates (plus `.Label "k"`). */
export function psRow(c: ContainerSummary__Output, options: PsRowOptions): Record<string, unknown> {
  const trunc = options.trunc;
  const labels = c.labels ?? {};
  const row: Record<string, unknown> = {
    get Command() {
      return JSON.stringify(trunc ? ellipsis(c.command, 20) : c.command);
    },
    get CreatedAt() {
      return goTime(Number(c.created));
    },
    get ID() {
      return trunc ? shortId(c.id) : c.id;
    },
    get Image() {
      return trunc && c.image.startsWith('sha256:') ? shortId(c.image) : c.image;
    },
    get Labels() {
      return Object.keys(labels)
        .sort()
        .map((k) => `${k}=${labels[k]}`)
        .join(',');
    },
    LocalVolumes: '0',
    get Mounts() {
      return c.mounts;
    },
    get Names() {
      return c.names.map((n) => n.replace(/^\//, '')).join(',');
    },
    get Networks() {
      return c.networks;
    },
    get Ports() {
      return c.ports;
    },
    get RunningFor() {
      return timeAgo(Number(c.created), options.now);
    },
    get Size() {
      const rw = Number(c.size_rw);
      const root = Number(c.size_root_fs);
      if (rw === 0 && root === 0) return '0B';
      return `${humanSize(rw)} (virtual ${humanSize(root)})`;
    },
    get State() {
      return c.state;
    },
    get Status() {
      return c.status;
    },
  };
  Object.defineProperty(row, 'Label', { enumerable: false, value: (k: string) => labels[k] ?? '' });
  return row;
}

export const ps: Handler = async (ctx, _args, opts) => {
  const { containers } = await ctx.clients();
  let limit = 0;
  if (opts.last !== undefined) {
    const v = opts.last as string;
    if (!/^-?\d+$/.test(v)) throw invalidFlag(v, '-n, --last', `strconv.ParseInt: parsing "${v}": invalid syntax`);
    limit = Number(v);
  }
  if (opts.latest) limit = 1;
  const filters = parseFilters(opts.filter);
  const res = await unary<{ containers: ContainerSummary__Output[] }>(
    (cb) => containers.List({ all: Boolean(opts.all) || limit > 0, limit: Math.max(0, limit), size: Boolean(opts.size), filters }, cb),
    ctx.signal,
  );
  const trunc = opts.trunc !== false;
  const rows = res.containers.map((c) => psRow(c, { trunc }));
  const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${opts.size ? '\t{{.Size}}' : ''}`;
  ctx.out(
    renderList(rows, {
      format: (opts.format as string | undefined) ?? '',
      defaultFormat: def,
      headers: PS_HEADERS,
      quiet: Boolean(opts.quiet),
      quietFormat: '{{.ID}}',
    }),
  );
};

function timeoutOf(opts: Record<string, unknown>): number | undefined {
  const v = (opts.timeout ?? opts.time) as string | undefined;
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw invalidFlag(v, '-t, --timeout', `strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

function signalOf(opts: Record<string, unknown>): string | undefined {
  const s = opts.signal as string | undefined;
  if (s === undefined) return undefined;
  try {
    parseSignal(s);
  } catch (err) {
    throw invalidFlag(s, '-s, --signal', (err as Error).message);
  }
  return s;
}

export const stop: Handler = async (ctx, args, opts) => {
  const timeout = timeoutOf(opts);
  const signal = signalOf(opts) ?? '';
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Stop(timeout === undefined ? { id, signal } : { id, timeout, signal }, cb));
    ctx.out(`${id}\n`);
  });
};

export const restart: Handler = async (ctx, args, opts) => {
  const timeout = timeoutOf(opts);
  const signal = signalOf(opts) ?? '';
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Restart(timeout === undefined ? { id, signal } : { id, timeout, signal }, cb));
    ctx.out(`${id}\n`);
  });
};

export const kill: Handler = async (ctx, args, opts) => {
  const signal = signalOf(opts) ?? 'KILL';
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Kill({ id, signal }, cb));
    ctx.out(`${id}\n`);
  });
};

export const rm: Handler = async (ctx, args, opts) => {
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Remove({ id, force: Boolean(opts.force), volumes: Boolean(opts.volumes) }, cb));
    ctx.out(`${id}\n`);
  });
};

export const pause: Handler = async (ctx, args) => {
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Pause({ id }, cb));
    ctx.out(`${id}\n`);
  });
};

export const unpause: Handler = async (ctx, args) => {
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    await unary((cb) => containers.Unpause({ id }, cb));
    ctx.out(`${id}\n`);
  });
};

export const wait: Handler = async (ctx, args) => {
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    const res = await unary<{ status_code: number; error: string }>((cb) => containers.Wait({ id, condition: 'not-running' }, cb), ctx.signal);
    if (res.error) ctx.err(`${res.error}\n`);
    ctx.out(`${res.status_code}\n`);
  });
};

export const rename: Handler = async (ctx, args) => {
  const [id = '', name = ''] = args;
  if (name === '') throw new UsageError('Error: Neither old nor new names may be empty');
  const { containers } = await ctx.clients();
  await unary((cb) => containers.Rename({ id, name }, cb));
};

export const update: Handler = async (ctx, args, opts) => {
  const flags = opts as RunFlags;
  const { resources, set } = buildResources(flags);
  const restart = flags.restart === undefined ? undefined : parseRestartPolicy(flags.restart);
  if (set.length === 0 && restart === undefined) {
    throw new UsageError('you must provide one or more flags when using this command');
  }
  const { containers } = await ctx.clients();
  return forEach(ctx, args, async (id) => {
    const res = await unary<{ warnings: string[] }>((cb) =>
      containers.Update(restart ? { id, resources, set, restart_policy: restart } : { id, resources, set }, cb),
    );
    for (const w of res.warnings) ctx.err(`WARNING: ${w}\n`);
    ctx.out(`${id}\n`);
  });
};

/** Writes output frames to stdout/stderr; resolves with the exit code if an EXIT frame came. */
export async function pumpFrames(
  frames: AsyncIterable<OutputFrame__Output>,
  out: (b: Buffer) => void,
  err: (b: Buffer) => void,
): Promise<number | undefined> {
  for await (const f of frames) {
    switch (f.stream) {
      case 'STDOUT':
        out(f.data);
        break;
      case 'STDERR':
        err(f.data);
        break;
      case 'EXIT':
        return f.exit_code;
      default:
        break;
    }
  }
  return undefined;
}

export const logs: Handler = async (ctx, args, opts) => {
  const [id = ''] = args;
  const tail = (opts.tail as string | undefined) ?? 'all';
  if (tail !== 'all' && !/^-?\d+$/.test(tail)) throw invalidFlag(tail, '-n, --tail', 'use a number of lines or "all"');
  const since = opts.since === undefined ? 0n : parseTimeFlag(opts.since as string, '--since');
  const until = opts.until === undefined ? 0n : parseTimeFlag(opts.until as string, '--until');
  const { containers } = await ctx.clients();
  const call = containers.Logs({
    id,
    follow: Boolean(opts.follow),
    tail: tail.startsWith('-') ? 'all' : tail,
    since: since.toString(),
    until: until.toString(),
    timestamps: Boolean(opts.timestamps),
    stdout: true,
    stderr: true,
  });
  const onAbort = (): void => call.cancel();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await pumpFrames(call as AsyncIterable<OutputFrame__Output>, (b) => ctx.io.stdout.write(b), (b) => ctx.io.stderr.write(b));
  } catch (err) {
    throw (await import('@shoal/api')).fromServiceError(err);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
};

export const top: Handler = async (ctx, args) => {
  const [id = '', ...psArgs] = args;
  const { containers } = await ctx.clients();
  const res = await unary<{ titles: string[]; processes: { cells: string[] }[] }>((cb) =>
    containers.Top({ id, ps_args: psArgs }, cb),
  );
  const lines = [res.titles.join('\t'), ...res.processes.map((p) => p.cells.join('\t'))];
  ctx.out(tabulate(lines, { minWidth: 20, padding: 3 }));
};

export const diff: Handler = async (ctx, args) => {
  const { containers } = await ctx.clients();
  const res = await unary<{ changes: { kind: string; path: string }[] }>((cb) => containers.Diff({ id: args[0] ?? '' }, cb));
  for (const c of res.changes) ctx.out(`${c.kind} ${c.path}\n`);
};

export const commit: Handler = async (ctx, args, opts) => {
  const [id = '', ref = ''] = args;
  const { containers } = await ctx.clients();
  const res = await unary<{ id: string }>((cb) =>
    containers.Commit(
      {
        id,
        ref,
        changes: (opts.change as string[] | undefined) ?? [],
        message: (opts.message as string | undefined) ?? '',
        author: (opts.author as string | undefined) ?? '',
        pause: opts.pause !== false,
      },
      cb,
    ),
  );
  ctx.out(`${res.id}\n`);
};

/** Streams data chunks to -o FILE or stdout (never to a terminal). */
export async function writeChunks(
  ctx: Parameters<Handler>[0],
  chunks: AsyncIterable<{ data: Buffer }>,
  output: string | undefined,
): Promise<void> {
  if (output === undefined && ctx.io.stdout.isTTY) {
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const sink = output === undefined || output === '-' ? ctx.io.stdout : createWriteStream(output);
  try {
    for await (const c of chunks) {
      if (!sink.write(c.data)) await once(sink, 'drain');
    }
  } catch (err) {
    throw (await import('@shoal/api')).fromServiceError(err);
  } finally {
    if (sink !== ctx.io.stdout) {
      sink.end();
      await once(sink, 'close');
    }
  }
}

export const exportContainer: Handler = async (ctx, args, opts) => {
  const { containers } = await ctx.clients();
  const output = opts.output as string | undefined;
  if (output === undefined && ctx.io.stdout.isTTY) {
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  await writeChunks(ctx, containers.Export({ id: args[0] ?? '' }) as AsyncIterable<{ data: Buffer }>, output);
};

const STATS_HEADERS: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

/** One `stats` row as docker's formatter exposes it. */
export function statsRow(s: ContainerStats__Output, given: string, trunc: boolean): Record<string, unknown> {
  const n = (v: string | number): number => Number(v);
  return {
    BlockIO: `${humanSize(n(s.block_read))} / ${humanSize(n(s.block_write))}`,
    CPUPerc: `${s.cpu_percent.toFixed(2)}%`,
    Container: given,
    ID: trunc ? shortId(s.id) : s.id,
    MemPerc: `${s.memory_percent.toFixed(2)}%`,
    MemUsage: `${bytesSize(n(s.memory_usage))} / ${bytesSize(n(s.memory_limit))}`,
    Name: s.name.replace(/^\//, ''),
    NetIO: `${humanSize(n(s.net_rx))} / ${humanSize(n(s.net_tx))}`,
    PIDs: String(n(s.pids)),
  };
}

export const stats: Handler = async (ctx, args, opts) => {
  const { containers } = await ctx.clients();
  let targets = args;
  if (targets.length === 0) {
    const res = await unary<{ containers: ContainerSummary__Output[] }>((cb) =>
      containers.List({ all: Boolean(opts.all), limit: 0, size: false, filters: [] }, cb),
    );
    targets = res.containers.map((c) => c.id);
  }
  const trunc = opts.trunc !== false;
  const sample = async (): Promise<{ rows: Record<string, unknown>[]; failed: boolean }> => {
    const rows: Record<string, unknown>[] = [];
    let failed = false;
    for (const t of targets) {
      try {
        const call = containers.Stats({ id: t, stream: false });
        for await (const s of call as AsyncIterable<ContainerStats__Output>) {
          rows.push(statsRow(s, t, trunc));
          break;
        }
        call.cancel();
      } catch (err) {
        if (args.length === 0) continue; // raced with an exit
        failed = true;
        ctx.err(`Error response from daemon: ${(await import('@shoal/api')).fromServiceError(err).message}\n`);
      }
    }
    return { rows, failed };
  };
  const format = (opts.format as string | undefined) ?? '';
  const render = (rows: Record<string, unknown>[]): string =>
    renderList(rows, {
      format,
      defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}',
      headers: STATS_HEADERS,
    });
  if (opts.stream === false) {
    const { rows, failed } = await sample();
    ctx.out(render(rows));
    return failed ? 1 : 0;
  }
  // Streaming: redraw about once a second until interrupted.
  const { sleep } = await import('@shoal/api');
  for (;;) {
    const { rows } = await sample();
    ctx.out(`\x1b[2J\x1b[H${render(rows)}`);
    try {
      await sleep(1000, ctx.signal);
    } catch {
      return 0;
    }
  }
};

async function inspectContainer(ctx: Parameters<Handler>[0], id: string, size: boolean): Promise<unknown> {
  const { containers } = await ctx.clients();
  const res = await unary<{ json: string }>((cb) => containers.Inspect({ id, size }, cb));
  return JSON.parse(res.json) as unknown;
}

async function inspectImage(ctx: Parameters<Handler>[0], ref: string): Promise<unknown> {
  const { images } = await ctx.clients();
  const res = await unary<{ json: string }>((cb) => images.Inspect({ ref }, cb));
  return JSON.parse(res.json) as unknown;
}

const isNotFound = (err: unknown): boolean => (err as { code?: string }).code === 'NotFound';

/** `inspect`: a container, else an image (or only the --type given). */
export const inspect: Handler = async (ctx, args, opts) => {
  const type = opts.type as string | undefined;
  if (type !== undefined && type !== 'container' && type !== 'image') {
    throw new UsageError(`"${type}" is not a valid value for --type`);
  }
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const name of args) {
    let obj: unknown;
    for (const kind of type ? [type] : ['container', 'image']) {
      try {
        obj = kind === 'container' ? await inspectContainer(ctx, name, Boolean(opts.size)) : await inspectImage(ctx, name);
        break;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (obj === undefined) missing.push(name);
    else found.push(obj);
  }
  printInspect(ctx, found, opts.format as string | undefined);
  if (missing.length === 0) return 0;
  const what = type === undefined ? 'object' : type;
  throw new ExitError(1, missing.map((m) => `Error: No such ${what}: ${m}`).join('\n'));
};

export const containerInspect: Handler = async (ctx, args, opts) => inspect(ctx, args, { ...opts, type: 'container' });

export const prune: Handler = async (ctx, _args, opts) => {
  if (!opts.force && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.'))) return 0;
  const { containers } = await ctx.clients();
  const res = await unary<{ deleted: string[]; space_reclaimed: string }>((cb) =>
    containers.Prune({ filters: parseFilters(opts.filter) }, cb),
  );
  if (res.deleted.length > 0) ctx.out(`Deleted Containers:\n${res.deleted.map((d) => `${d}\n`).join('')}\n`);
  ctx.out(`Total reclaimed space: ${humanSize(Number(res.space_reclaimed))}\n`);
};
