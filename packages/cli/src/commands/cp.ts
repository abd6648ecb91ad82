// `cp`: copies between a container and the local filesystem, both ways, or
// to/from a tar on stdin/stdout with "-".
import { promises as fs } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { fromServiceError, type CopyToRequest, type DataChunk__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import type { Clients } from '../client/connect.js';
import type { Context, Handler } from '../context.js';
import { extractTar } from '../cp/extract.js';
import { packPath } from '../cp/pack.js';

/** Splits "container:path"; a local path containing ":" must start with "/" or "./" to be read as local. */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function chunks(clients: Clients, id: string, path: string): Readable {
  const call = clients.containers.CopyFrom({ id, path });
  const out = new PassThrough();
  (async () => {
    try {
      for await (const c of call as AsyncIterable<DataChunk__Output>) {
        if (!out.write(c.data)) await new Promise((r) => out.once('drain', r));
      }
      out.end();
    } catch (err) {
      out.destroy(fromServiceError(err));
    }
  })().catch(() => undefined);
  return out;
}

/** What kind of thing a container path is, from the first tar header of a CopyFrom; undefined when absent. */
async function probe(clients: Clients, id: string, path: string): Promise<'dir' | 'file' | undefined> {
  const call = clients.containers.CopyFrom({ id, path });
  try {
    let head = Buffer.alloc(0);
    for await (const c of call as AsyncIterable<DataChunk__Output>) {
      head = Buffer.concat([head, c.data]);
      if (head.length >= 512) break;
    }
    return head.length >= 512 && head[156] === 0x35 ? 'dir' : 'file';
  } catch (err) {
    const e = fromServiceError(err);
    if (e.code === 'NotFound') return undefined;
    throw e;
  } finally {
    call.cancel();
  }
}

async function copyFromContainer(ctx: Context, id: string, src: string, dest: string, opts: Record<string, unknown>): Promise<void> {
  const clients = await ctx.clients();
  if (dest === '-') {
    if (ctx.io.stdout.isTTY) throw new ExitError(1, 'cowardly refusing to write a tar archive to a terminal. Redirect the output');
    const tarStream = chunks(clients, id, src);
    for await (const b of tarStream) if (!ctx.io.stdout.write(b as Buffer)) await new Promise((r) => ctx.io.stdout.once('drain', r));
    return;
  }
  const target = resolve(dest);
  let st;
  try {
    st = await fs.stat(target);
  } catch {
    st = undefined;
  }
  const contentsOnly = src.endsWith('/.');
  if (st?.isDirectory()) {
    // Into an existing directory: keeps the source's name (or spills its contents for "/.").
    await extractTar(chunks(clients, id, src), target, contentsOnly ? { renameTop: '', preserveOwner: Boolean(opts.archive) } : { preserveOwner: Boolean(opts.archive) });
    return;
  }
  const parent = dirname(target);
  try {
    if (!(await fs.stat(parent)).isDirectory()) throw new Error();
  } catch {
    throw new ExitError(1, `Error: destination directory "${parent}" must exist: no such directory`);
  }
  if (st && (await probe(clients, id, src)) === 'dir') {
    throw new ExitError(1, `Error: cannot copy a directory to a file: "${dest}" is a file`);
  }
  await extractTar(chunks(clients, id, src), parent, { renameTop: basename(target), preserveOwner: Boolean(opts.archive) });
}

async function copyToContainer(ctx: Context, src: string, id: string, dest: string, opts: Record<string, unknown>): Promise<void> {
  const clients = await ctx.clients();
  let archive: Readable;
  let dir = dest;
  if (src === '-') {
    archive = ctx.io.stdin;
  } else {
    const local = resolve(src);
    let st;
    try {
      st = opts.followLink ? await fs.stat(local) : await fs.lstat(local);
    } catch {
      throw new ExitError(1, `Error: no such file or directory: ${src}`);
    }
    const kind = await probe(clients, id, dest);
    const contentsOnly = src.endsWith('/.') && st.isDirectory();
    let name = basename(local);
    if (kind === 'file' && st.isDirectory()) throw new ExitError(1, `Error: cannot copy a directory to a file: "${dest}" is a file`);
    if (kind !== 'dir' || dest.endsWith('/.')) {
      if (kind === undefined && dest.endsWith('/')) {
        throw new ExitError(1, `Error: destination directory "${dest}" must exist: no such directory`);
      }
      // A new name (or an existing file to overwrite): extract into the parent under that name.
      dir = dirname(dest.replace(/\/+$/, '')) || '/';
      name = basename(dest.replace(/\/+$/, ''));
    }
    const packed = contentsOnly && kind === 'dir' ? packPath(local, { name, contentsOnly: true }) : packPath(local, { name, followTop: Boolean(opts.followLink) });
    archive = packed as unknown as Readable;
  }
  await new Promise<void>((resolveDone, reject) => {
    const call = clients.containers.CopyTo((err) => (err ? reject(fromServiceError(err)) : resolveDone()));
    call.write({ header: { id, path: dir, copy_uid_gid: Boolean(opts.archive) } } satisfies CopyToRequest);
    (async () => {
      for await (const b of archive) {
        if (!call.write({ data: b as Buffer })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })().catch((err: unknown) => {
      call.cancel();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

export const cp: Handler = async (ctx, args, opts) => {
  const [a = '', b = ''] = args;
  const src = splitCpArg(a);
  const dest = splitCpArg(b);
  if (src.container !== undefined && dest.container !== undefined) {
    throw new UsageError('copying between containers is not supported');
  }
  if (src.container === undefined && dest.container === undefined) {
    throw new UsageError('must specify at least one container source');
  }
  if (src.container !== undefined) await copyFromContainer(ctx, src.container, src.path, dest.path, opts);
  else await copyToContainer(ctx, src.path, dest.container!, dest.path, opts);
};
