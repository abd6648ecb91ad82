import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { nowNs, parseTimeNs, type LogStream } from './log-config.js';

/** One logged line (a partial line when the container wrote more than 16 KiB without a newline). */
export interface LogEntry {
  stream: LogStream;
  /** The bytes as written, with the trailing newline when there was one. */
  line: Buffer;
  /** Nanoseconds since the epoch. */
  time: bigint;
}

export interface ReadLogsOptions {
  /** Only the last N lines (of both streams, as docker counts); default all. */
  tail?: number | 'all';
  /** Only lines at or after this time (ns since the epoch). */
  since?: bigint;
  /** Only lines at or before this time (ns since the epoch); a follow stops once it has passed. */
  until?: bigint;
  /** Keep reading new lines, across rotations, until the signal aborts or `stopWhen` says so. */
  follow?: boolean;
  /** Default true. */
  stdout?: boolean;
  /** Default true. */
  stderr?: boolean;
  /**
   * Asked whenever a follow has read everything there is: return true to end
   * (e.g. the container has exited). A final read then drains what is left.
   */
  stopWhen?: () => boolean | Promise<boolean>;
  /** Polling interval for a follow, the fallback when fs.watch misses an event; default 250 ms. */
  pollMs?: number;
}

const CHUNK = 64 * 1024;

/** `path` and its rotated files, oldest first. Missing files are simply absent. */
async function logFiles(path: string): Promise<string[]> {
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? Number(n.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a)
    .map((n) => `${path}.${n}`);
  return names.includes(base) ? [...rotated, path] : rotated;
}

function decode(raw: Buffer): LogEntry | undefined {
  try {
    const e = JSON.parse(raw.toString('utf8')) as { log?: unknown; stream?: unknown; time?: unknown };
    if (typeof e.log !== 'string' || (e.stream !== 'stdout' && e.stream !== 'stderr') || typeof e.time !== 'string') {
      return undefined;
    }
    const time = parseTimeNs(e.time);
    if (time === undefined) return undefined;
    return { stream: e.stream, line: Buffer.from(e.log, 'utf8'), time };
  } catch {
    return undefined;
  }
}

/** Reads complete lines of one open file from `pos`; keeps a trailing partial line for the next call. */
class LineReader {
  pos: number;
  private rest: Buffer = Buffer.alloc(0);

  constructor(
    readonly fh: FileHandle,
    pos: number,
  ) {
    this.pos = pos;
  }

  async *lines(): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      let data = this.rest.length ? Buffer.concat([this.rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
        yield data.subarray(start, nl);
        start = nl + 1;
      }
      data = data.subarray(start);
      this.rest = Buffer.from(data);
    }
  }

  /** The file shrank under us (truncated in place): start over. */
  reset(): void {
    this.pos = 0;
    this.rest = Buffer.alloc(0);
  }
}

/** Finds where the last `n` (> 0) lines start: [file index, offset]. Files are given oldest first. */
async function tailStart(fhs: FileHandle[], n: number): Promise<[number, number]> {
  let needed = n;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let i = fhs.length - 1; i >= 0; i--) {
    const size = (await fhs[i]!.stat()).size;
    if (size === 0) continue;
    // The last byte is the final newline: it ends a line rather than starting one.
    let end = size - 1;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const { bytesRead } = await fhs[i]!.read(buf, 0, end - start, start);
      for (let j = bytesRead - 1; j >= 0; j--) {
        if (buf[j] === 0x0a && --needed === 0) return [i, start + j + 1];
      }
      end = start;
    }
    if (--needed === 0) return [i, 0];
  }
  return [0, 0];
}

/**
 * Reads a json-file log (with its rotated files, oldest first), filtered by
 * stream and time, optionally only the tail, optionally following new output
 * across rotations. The read ends quietly when `signal` aborts; a follow also
 * ends when `stopWhen` says so or `until` has passed. Lines that are not valid entries are skipped.
 *
 * A rotation that happens while the rotated files are being read can make a
 * line appear twice or not at all, as with docker's reader.
 *
 * Throws the fs error when a file cannot be read (a missing log is an empty one).
 */
export async function* readLogs(path: string, opts: ReadLogsOptions, signal?: AbortSignal): AsyncGenerator<LogEntry> {
  const want = { stdout: opts.stdout ?? true, stderr: opts.stderr ?? true };
  const tail = opts.tail === undefined || opts.tail === 'all' ? undefined : Math.max(0, Math.floor(opts.tail));
  const pass = (e: LogEntry): boolean =>
    want[e.stream] && (opts.since === undefined || e.time >= opts.since);
  const past = (e: LogEntry): boolean => opts.until !== undefined && e.time > opts.until;

  const files = await logFiles(path);
  const opened: { path: string; fh: FileHandle }[] = [];
  const fhs: FileHandle[] = [];
  let live: LineReader | undefined;
  try {
    for (const f of files) {
      try {
        const fh = await open(f, 'r');
        opened.push({ path: f, fh });
        fhs.push(fh);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const last = opened[opened.length - 1];
    if (tail === 0) {
      if (last?.path === path) live = new LineReader(last.fh, (await last.fh.stat()).size);
    } else {
      const [first, offset] = tail === undefined ? [0, 0] : await tailStart(fhs, tail);
      for (let i = first; i < opened.length; i++) {
        const reader = new LineReader(opened[i]!.fh, i === first ? offset : 0);
        for await (const raw of reader.lines()) {
          if (signal?.aborted) return;
          const e = decode(raw);
          if (!e) continue;
          if (past(e)) return;
          if (pass(e)) yield e;
        }
        if (opened[i]!.path === path) live = reader;
      }
    }
    if (!opts.follow) return;

    // Follow: keep reading the live file; when it is renamed away (rotated),
    // finish it and move to the new one.
    if (!live) {
      live = await openLive(path, signal);
      if (!live) return;
      fhs.push(live.fh);
    }
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dirname(path), (_ev, name) => {
        if (name === basename(path)) wake?.();
      });
      watcher.on('error', () => undefined);
    } catch {
      // polling only
    }
    try {
      let stopping = false;
      for (;;) {
        for await (const raw of live.lines()) {
          const e = decode(raw);
          if (!e) continue;
          if (past(e)) return;
          if (pass(e)) yield e;
        }
        // At the end of the live file: rotated or truncated meanwhile?
        const cur = await stat(path).catch(() => undefined);
        const mine = await live.fh.stat();
        if (cur && cur.ino !== mine.ino) {
          for await (const raw of live.lines()) {
            const e = decode(raw);
            if (e && !past(e) && pass(e)) yield e;
          }
          const next = await open(path, 'r').catch(() => undefined);
          if (next) {
            fhs.push(next);
            live = new LineReader(next, 0);
            continue;
          }
        } else if (mine.size < live.pos) {
          live.reset();
          continue;
        }
        if (stopping || signal?.aborted) return;
        if (opts.until !== undefined && nowNs() > opts.until) return;
        if (opts.stopWhen && (await opts.stopWhen())) {
          stopping = true;
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, opts.pollMs ?? 250);
          function done(): void {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          }
          wake = done;
          signal?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      watcher?.close();
    }
  } finally {
    await Promise.all(fhs.map((fh) => fh.close().catch(() => undefined)));
  }
}

/** Waits for the log file to appear (the container has not written yet). */
async function openLive(path: string, signal?: AbortSignal): Promise<LineReader | undefined> {
  while (!signal?.aborted) {
    const fh = await open(path, 'r').catch(() => undefined);
    if (fh) return new LineReader(fh, 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}
