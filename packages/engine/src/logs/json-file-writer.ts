import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { formatTimeNs, type LogStream } from './log-config.js';

/** Docker's largest log message: a longer line is split into partial entries. */
export const MAX_LINE = 16 * 1024;

export interface JsonFileWriterOptions {
  /** Rotate when the file has reached this many bytes; unset = never. */
  maxSize?: number;
  /** How many files to keep, the live one included (docker's default 1). */
  maxFile?: number;
}

// Go's encoding/json escapes these for HTML safety; docker's files carry them
// escaped, and matching byte for byte keeps tools that grep the files happy.
const HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function encodeEntry(stream: LogStream, line: Buffer, time: bigint): string {
  const log = JSON.stringify(line.toString('utf8')).replace(/[<>&\u2028\u2029]/g, (c) => HTML_ESCAPES[c] ?? c);
  return `{"log":${log},"stream":"${stream}","time":"${formatTimeNs(time)}"}\n`;
}

/**
 * Docker's json-file log writer: one JSON object per line of output, split at
 * newlines (a line without one is held until it arrives, the stream ends, or it
 * reaches 16 KiB), with size-based rotation to `<path>.1` … `<path>.N-1`.
 *
 * Writes are synchronous on purpose: the shim must never lose output it has
 * read, even when it is killed right after, and one container's output rate is
 * far below what a blocking append costs.
 */
export class JsonFileWriter {
  readonly path: string;
  private fd: number;
  private size: number;
  private readonly maxSize: number;
  private readonly maxFile: number;
  private readonly pending: Record<LogStream, { data: Buffer; time: bigint } | undefined> = {
    stdout: undefined,
    stderr: undefined,
  };

  /** Opens (appending to) `path`. Throws the fs error when the file cannot be opened. */
  constructor(path: string, options: JsonFileWriterOptions = {}) {
    this.path = path;
    this.maxSize = options.maxSize ?? 0;
    this.maxFile = Math.max(1, options.maxFile ?? 1);
    this.fd = openSync(path, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Logs one chunk of output read at `time` (ns since the epoch). Throws on a write error. */
  write(stream: LogStream, data: Buffer, time: bigint): void {
    let held = this.pending[stream];
    let buf = held ? Buffer.concat([held.data, data]) : data;
    const lineTime = time;
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl === -1) break;
      // A held partial line that grows past the limit is cut where docker cuts it.
      for (; nl + 1 - start > MAX_LINE; start += MAX_LINE) {
        out.push(encodeEntry(stream, buf.subarray(start, start + MAX_LINE), lineTime));
      }
      out.push(encodeEntry(stream, buf.subarray(start, nl + 1), lineTime));
      start = nl + 1;
    }
    for (; buf.length - start >= MAX_LINE; start += MAX_LINE) {
      out.push(encodeEntry(stream, buf.subarray(start, start + MAX_LINE), lineTime));
    }
    buf = buf.subarray(start);
    held = buf.length > 0 ? { data: Buffer.from(buf), time } : undefined;
    this.pending[stream] = held;
    if (out.length === 0) return;
    // With a size cap, each line is its own write so rotation happens between
    // lines (as docker's per-message rotation); without one, one write per chunk.
    if (this.maxSize > 0) for (const entry of out) this.append(entry);
    else this.append(out.join(''));
  }

  /** Writes any held partial line of `stream` (the stream ended). Throws on a write error. */
  flush(stream?: LogStream): void {
    for (const s of stream ? [stream] : (['stdout', 'stderr'] as const)) {
      const held = this.pending[s];
      if (held) {
        this.pending[s] = undefined;
        this.append(encodeEntry(s, held.data, held.time));
      }
    }
  }

  /** Flushes held partial lines and closes the file. Throws on a write error. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  private append(text: string): void {
    if (this.fd < 0) return;
    // Like docker: rotate once the file has reached the cap, so a file can pass
    // max-size by at most one write.
    if (this.maxSize > 0 && this.size >= this.maxSize) this.rotate();
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off);
    this.size += bytes.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    this.fd = -1;
    if (this.maxFile < 2) {
      this.fd = openSync(this.path, 'w', 0o640);
    } else {
      rmSync(`${this.path}.${this.maxFile - 1}`, { force: true });
      for (let i = this.maxFile - 2; i >= 1; i--) {
        try {
          renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      renameSync(this.path, `${this.path}.1`);
      this.fd = openSync(this.path, 'a', 0o640);
    }
    this.size = 0;
  }
}
