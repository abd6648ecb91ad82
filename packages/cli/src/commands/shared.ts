// Helpers the command handlers share: per-target loops, filters, inspect output.
import type { Filter } from '@shoal/api';
import { UsageError } from '../cli-error.js';
import type { Context } from '../context.js';
import { parseTemplate } from '../format/go-template.js';

/**
 * Runs `fn` for every target like docker's multi-container commands: errors are
 * printed as they happen and the loop goes on; resolves 1 if any failed, else 0.
 */
export async function forEach(ctx: Context, targets: string[], fn: (target: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const t of targets) {
    try {
      await fn(t);
    } catch (err) {
      failed = true;
      const e = err as { name?: string; message?: string };
      ctx.err(e.name === 'ShoalError' ? `Error response from daemon: ${e.message ?? ''}\n` : `${e.message ?? String(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** Parses repeated `--filter key=value`. Throws UsageError for a value without "=". */
export function parseFilters(values: unknown): Filter[] {
  const list = Array.isArray(values) ? (values as string[]) : [];
  return list.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`Bad format of filter (expected name=value): ${f}`);
    return { key: f.slice(0, eq).trim().toLowerCase(), value: f.slice(eq + 1) };
  });
}

/**
 * Prints inspect results: a JSON array with 4-space indentation, or the template applied per object.
 * Throws TemplateError for a bad template.
 */
export function printInspect(ctx: Context, objects: unknown[], format: string | undefined): void {
  if (format === undefined || format === '') {
    ctx.out(`${JSON.stringify(objects, null, 4)}\n`);
    return;
  }
  const tmpl = parseTemplate(format === 'json' ? '{{json .}}' : format);
  for (const o of objects) ctx.out(`${tmpl.execute(o)}\n`);
}

/** Parses a docker time flag (--since/--until): RFC 3339, unix seconds[.nanos], or a duration ago ("10m", "1h30m"). Returns unix nanoseconds. */
export function parseTimeFlag(value: string, flag: string, now = Date.now()): bigint {
  const v = value.trim();
  if (/^\d+(\.\d{1,9})?$/.test(v)) {
    const [s = '0', frac = ''] = v.split('.');
    return BigInt(s) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
  }
  const dur = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(v);
  if (dur && v !== '') {
    const ms = Number(dur[1] ?? 0) * 3_600_000 + Number(dur[2] ?? 0) * 60_000 + Number(dur[3] ?? 0) * 1000 + Number(dur[4] ?? 0);
    return BigInt(Math.round(now - ms)) * 1_000_000n;
  }
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t)) {
    throw new UsageError(`invalid value for "${flag}": "${value}" is not a timestamp (2013-01-02T13:23:37Z), a unix time or a duration (42m)`);
  }
  const nanos = /\.(\d{1,9})/.exec(v)?.[1];
  const base = BigInt(Math.floor(t / 1000)) * 1_000_000_000n;
  return base + (nanos ? BigInt((nanos + '000000000').slice(0, 9)) : BigInt(t % 1000) * 1_000_000n);
}

/** Reads all of a readable into one Buffer. */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** Asks docker's y/N question on stderr-less stdout and reads one line from stdin. */
export async function confirm(ctx: Context, question: string): Promise<boolean> {
  ctx.out(`${question}\nAre you sure you want to continue? [y/N] `);
  const stdin = ctx.io.stdin;
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer | string): void => {
      buf += d.toString();
      if (buf.includes('\n')) done();
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      resolve(buf);
    };
    stdin.on('data', onData);
    stdin.on('end', done);
    stdin.resume();
  });
  return /^\s*y(es)?\s*$/i.test(answer.split('\n')[0] ?? '');
}
