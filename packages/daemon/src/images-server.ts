import {
  invalidArgument,
  type DataChunk,
  type DataChunk__Output,
  type ImagesHandlers,
  type ImportImageRequest__Output,
  type Logger,
  type Progress,
} from '@shoal/api';
import type { Engine } from '@shoal/engine';
import { bidiStream, clientStream, headerAndRest, serverStream, unary } from './grpc-util.js';

type ImageService = Engine['images'];
type ProgressLine = Parameters<Parameters<ImageService['load']>[1] & object>[0];

/** Chunks sent to clients are coalesced to about this size: tar emits many 512-byte pieces. */
const CHUNK = 64 * 1024;

/** The gRPC face of the image store. Validation and errors come from the engine. */
export function imagesServer(images: ImageService, log: Logger): ImagesHandlers {
  return {
    List: unary(log, 'List', async (req) => ({
      images: (await images.list({ all: req.all, filters: req.filters })).map((i) => ({
        id: i.id,
        repo_tags: i.repoTags,
        repo_digests: i.repoDigests,
        created: i.created,
        size: i.size,
        labels: i.labels,
        containers: i.containers,
      })),
    })),
    Inspect: unary(log, 'Inspect', async (req) => ({ json: JSON.stringify(await images.inspect(req.ref)) })),
    History: unary(log, 'History', async (req) => ({
      entries: (await images.history(req.ref)).map((h) => ({
        id: h.id,
        created: h.created,
        created_by: h.createdBy,
        size: h.size,
        comment: h.comment,
        tags: h.tags,
      })),
    })),
    Tag: unary(log, 'Tag', async (req) => {
      await images.tag(req.source, req.target);
      return {};
    }),
    Remove: unary(log, 'Remove', async (req) => images.remove(req.ref, { force: req.force, noPrune: req.no_prune })),
    Prune: unary(log, 'Prune', async (req) => {
      const res = await images.prune({ all: req.all, filters: req.filters });
      return { untagged: res.untagged, deleted: res.deleted, space_reclaimed: res.spaceReclaimed };
    }),
    Import: clientStream(log, 'Import', async (input: AsyncIterable<ImportImageRequest__Output>, signal) => {
      const { first, rest } = await headerAndRest(input);
      if (first?.part !== 'header' || !first.header) {
        throw invalidArgument('import: the first message must be the header; upgrade the client.');
      }
      const h = first.header;
      if (h.platform && !['linux', 'linux/amd64'].includes(h.platform)) {
        throw invalidArgument(`Platform ${h.platform} is not supported; this engine runs linux/amd64 images.`);
      }
      const data = bytesOf(rest, (m) => {
        if (m.part !== 'data') throw invalidArgument('import: only data may follow the header.');
        return m.data;
      });
      const id = await images.import(data, { ref: h.ref || undefined, changes: h.changes, message: h.message }, signal);
      return { id };
    }),
    Load: bidiStream(log, 'Load', (input: AsyncIterable<DataChunk__Output>, signal) => load(input, signal)),
    Save: serverStream(log, 'Save', (req, signal) => save(req.refs, signal)),
  };

  async function* load(input: AsyncIterable<DataChunk__Output>, signal: AbortSignal): AsyncGenerator<Progress> {
    // grpc-util hands us a request iterator that does not destroy the call on half-close.
    const it = input[Symbol.asyncIterator]();
    const queue: Progress[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const push = (p: ProgressLine): void => {
      queue.push({ id: p.id, status: p.status, current: p.current ?? 0, total: p.total ?? 0 });
      wake?.();
    };
    images.load(bytesOf({ next: () => it.next() }, (m) => m.data), push, signal).then(
      () => {
        finished = true;
        wake?.();
      },
      (err: unknown) => {
        failure = err;
        finished = true;
        wake?.();
      },
    );
    for (;;) {
      while (queue.length > 0) yield queue.shift() as Progress;
      if (finished) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (failure !== undefined) throw failure as Error;
  }

  async function* save(refs: string[], signal: AbortSignal): AsyncGenerator<DataChunk> {
    const stream = await images.save(refs, signal);
    let pending: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        pending.push(buf);
        size += buf.length;
        if (size >= CHUNK) {
          yield { data: Buffer.concat(pending) };
          pending = [];
          size = 0;
        }
      }
      if (size > 0) yield { data: Buffer.concat(pending) };
    } finally {
      stream.destroy();
    }
  }
}

/** The bytes of a client stream's remaining messages. */
async function* bytesOf<M>(rest: { next(): Promise<IteratorResult<M>> }, pick: (m: M) => Buffer | undefined): AsyncGenerator<Uint8Array> {
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    const data = pick(r.value);
    if (data && data.length > 0) yield data;
  }
}
