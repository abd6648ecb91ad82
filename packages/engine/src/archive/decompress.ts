import { createGunzip } from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { Decompress } from 'fzstd';
import { invalidArgument } from '@shoal/api';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** Bytes from a stream, an async generator or an array of buffers. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function toAsyncIterable(src: ByteSource): AsyncIterable<Uint8Array> {
  if (Symbol.asyncIterator in src) return src;
  return (async function* () {
    yield* src;
  })();
}

/** Recognizes a compression format from the first bytes of a stream. */
export function detectCompression(head: Uint8Array): Compression {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return 'bzip2';
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) {
    return 'xz';
  }
  return 'none';
}

/**
 * Yields the uncompressed bytes of a plain, gzip or zstd stream, detected by
 * its magic bytes.
 *
 * @throws InvalidArgument for bzip2/xz input or corrupt compressed data.
 */
export async function* decompress(src: ByteSource): AsyncGenerator<Uint8Array> {
  const it = toAsyncIterable(src)[Symbol.asyncIterator]();
  const pending: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < 6) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    pending.push(r.value);
    have += r.value.byteLength;
  }
  const kind = detectCompression(Buffer.concat(pending));
  async function* all(): AsyncGenerator<Uint8Array> {
    yield* pending;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  switch (kind) {
    case 'none':
      yield* all();
      return;
    case 'gzip': {
      const out = pipeline(Readable.from(all()), createGunzip(), () => undefined);
      try {
        for await (const chunk of out) yield chunk as Buffer;
      } catch (err) {
        throw invalidArgument(`The gzip data is corrupt: ${(err as Error).message}.`, { cause: err });
      }
      return;
    }
    case 'zstd': {
      const out: Uint8Array[] = [];
      const d = new Decompress((chunk) => {
        out.push(chunk);
      });
      try {
        for await (const chunk of all()) {
          d.push(chunk);
          yield* out.splice(0);
        }
        d.push(new Uint8Array(0), true);
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        throw invalidArgument(`The zstd data is corrupt: ${(err as Error).message}.`, { cause: err });
      }
      yield* out.splice(0);
      return;
    }
    default:
      throw invalidArgument(`Layers compressed with ${kind} are not supported; use an uncompressed, gzip or zstd tar.`);
  }
}
