import type { sendUnaryData, ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import { toServiceError, type Logger } from '@shoal/api';

/** Wraps an async unary handler: the result or a converted ShoalError goes to the callback. */
export function unary<Req, Res>(
  log: Logger,
  name: string,
  fn: (req: Req, signal: AbortSignal) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void {
  return (call, cb) => {
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    fn(call.request, ctl.signal).then(
      (res) => cb(null, res),
      (err: unknown) => {
        log.debug('request failed', { method: name, error: String(err) });
        cb(toServiceError(err));
      },
    );
  };
}

/** Wraps an async server-streaming handler; the generator's values are written with backpressure. */
export function serverStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (req: Req, signal: AbortSignal) => AsyncIterable<Res>,
): (call: ServerWritableStream<Req, Res>) => void {
  return (call) => {
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    void (async () => {
      try {
        for await (const item of fn(call.request, ctl.signal)) {
          if (ctl.signal.aborted) break;
          if (!call.write(item)) await waitDrain(call, ctl.signal);
        }
        call.end();
      } catch (err) {
        if (ctl.signal.aborted) return;
        log.debug('stream failed', { method: name, error: String(err) });
        call.emit('error', toServiceError(err));
      }
    })();
  };
}

/** Collects a client stream into an async iterable for the handler; the handler's result goes to the callback. */
export function clientStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (input: AsyncIterable<Req>, signal: AbortSignal) => Promise<Res>,
): (call: ServerReadableStream<Req, Res>, cb: sendUnaryData<Res>) => void {
  return (call, cb) => {
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    fn(requests<Req>(call), ctl.signal).then(
      (res) => cb(null, res),
      (err: unknown) => {
        log.debug('request failed', { method: name, error: String(err) });
        cb(toServiceError(err));
      },
    );
  };
}

/** A bidirectional handler: reads requests as an async iterable, writes the handler's output. */
export function bidiStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (input: AsyncIterable<Req>, signal: AbortSignal) => AsyncIterable<Res>,
): (call: ServerDuplexStream<Req, Res>) => void {
  return (call) => {
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    void (async () => {
      try {
        for await (const item of fn(requests<Req>(call), ctl.signal)) {
          if (ctl.signal.aborted) break;
          if (!call.write(item)) await waitDrain(call, ctl.signal);
        }
        call.end();
      } catch (err) {
        if (ctl.signal.aborted) return;
        log.debug('stream failed', { method: name, error: String(err) });
        call.emit('error', toServiceError(err));
      }
    })();
  };
}

function waitDrain(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stream.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Reads the first message of a client stream (the header) and returns it with the rest. */
export async function headerAndRest<Req>(input: AsyncIterable<Req>): Promise<{ first: Req | undefined; rest: AsyncIterator<Req> }> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  return { first: first.done ? undefined : first.value, rest: it };
}

/**
 * The requests of a client or bidi stream. Node's default async iterator
 * destroys the stream when the client half-closes, which would also end our
 * half: responses and the final status could no longer be sent.
 */
function requests<Req>(call: Readable): AsyncIterable<Req> {
  return call.iterator({ destroyOnReturn: false }) as AsyncIterable<Req>;
}
