// Moving image bytes between the CLI and the daemon: import, load, save.
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { fromServiceError, type DataChunk, type ImportImageRequest, type Progress__Output } from '@shoal/api';
import { ExitError, UsageError } from '../cli-error.js';
import type { Context, Handler } from '../context.js';
import { humanSize } from '../format/human.js';
import { writeChunks } from './containers.js';

interface Writable<T> {
  write(msg: T): boolean;
  end(): void;
  once(event: 'drain', fn: () => void): unknown;
}

/** Opens FILE, or stdin for "-"; throws UsageError when the file cannot be opened. */
async function openSource(ctx: Context, file: string): Promise<Readable> {
  if (file === '-') return ctx.io.stdin;
  const stream = createReadStream(file);
  try {
    await once(stream, 'open');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `open ${file}: no such file or directory` : (err as Error).message);
  }
  return stream;
}

/** Sends every chunk of `source` as a message, honouring backpressure; shows bytes sent on a TTY stderr. */
async function pump<T>(ctx: Context, source: Readable, call: Writable<T>, wrap: (b: Buffer) => T, label: string): Promise<void> {
  const progress = ctx.io.stderr.isTTY === true;
  let sent = 0;
  let last = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    sent += buf.length;
    if (!call.write(wrap(buf))) await new Promise<void>((r) => call.once('drain', r));
    if (progress && Date.now() - last > 100) {
      last = Date.now();
      ctx.err(`\r${label} ${humanSize(sent)}\x1b[K`);
    }
  }
  if (progress) ctx.err(`\r${label} ${humanSize(sent)}\x1b[K\n`);
  call.end();
}

export const importImage: Handler = async (ctx, args, opts) => {
  const [file = '', ref = ''] = args;
  if (/^https?:\/\//.test(file)) throw new UsageError(`importing from a URL is not supported yet: ${file}`);
  const source = await openSource(ctx, file);
  const { images } = await ctx.clients();
  let call!: Writable<ImportImageRequest>;
  const done = new Promise<{ id: string }>((resolve, reject) => {
    call = images.Import((err, res) => (err ? reject(fromServiceError(err)) : resolve(res!)));
  });
  call.write({
    header: {
      ref,
      changes: (opts.change as string[] | undefined) ?? [],
      message: (opts.message as string | undefined) ?? '',
      platform: (opts.platform as string | undefined) ?? '',
    },
  });
  // A failed pump must not hide the daemon's answer, which says why.
  const pumped = pump(ctx, source, call, (data) => ({ data }), 'Importing').catch((err: unknown) => err);
  const res = await done;
  const perr = await pumped;
  if (perr instanceof Error) throw perr;
  ctx.out(`${res.id}\n`);
};

export const load: Handler = async (ctx, _args, opts) => {
  const input = opts.input as string | undefined;
  if (input === undefined && ctx.io.stdin.isTTY) throw new ExitError(1, 'requested load from stdin, but stdin is empty');
  const source = await openSource(ctx, input ?? '-');
  const { images } = await ctx.clients();
  const call = images.Load();
  const pumped = pump(ctx, source, call as unknown as Writable<DataChunk>, (data) => ({ data }), 'Loading').catch(
    (err: unknown) => err,
  );
  const quiet = Boolean(opts.quiet);
  const tty = ctx.io.stdout.isTTY === true;
  try {
    for await (const p of call as AsyncIterable<Progress__Output>) {
      if (p.status.startsWith("Loaded image")) ctx.out(p.id ? `${p.status}: ${p.id}\n` : `${p.status}\n`);
      else if (!quiet && tty) {
        const amount = Number(p.total) > 0 ? ` ${humanSize(Number(p.current))}/${humanSize(Number(p.total))}` : '';
        ctx.out(`\r${p.status} ${p.id}${amount}\x1b[K`);
      }
    }
  } catch (err) {
    throw fromServiceError(err);
  }
  if (!quiet && tty) ctx.out('\r\x1b[K');
  const perr = await pumped;
  if (perr instanceof Error) throw perr;
};

export const save: Handler = async (ctx, args, opts) => {
  const output = opts.output as string | undefined;
  if (output === undefined && ctx.io.stdout.isTTY) {
    throw new ExitError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const { images } = await ctx.clients();
  await writeChunks(ctx, images.Save({ refs: args }) as AsyncIterable<{ data: Buffer }>, output);
};
