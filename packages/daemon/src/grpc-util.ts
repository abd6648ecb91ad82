import { status as GrpcStatus } from '@grpc/grpc-js';
import type { sendUnaryData, ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { toServiceError, type Logger } from '@shoal/api';

/**
 * Notices when the API has been quiet for a while, so the daemon can do
 * housekeeping (a full GC) when no client is waiting. Every request's start
 * and end re-arm the timer; a long-lived stream (logs -f, events) does not
 * count as activity in between.
 */
export class RequestActivity {
  private timer: NodeJS.Timeout | undefined;
  private quiet: { ms: number; fn: () => void } | undefined;

  /** Calls `fn` once after each stretch of `ms` without a request starting or ending. */
  onQuiet(ms: number, fn: () => void): void {
    this.quiet = { ms, fn };
    this.touch();
  }

  /** Forgets the quiet handler (shutdown). */
  stop(): void {
    clearTimeout(this.timer);
    this.quiet = undefined;
  }

  touch(): void {
    if (!this.quiet) return;
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    const q = this.quiet;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      q.fn();
    }, q.ms);
    this.timer.unref();
  }
}

/** The activity of every handler wrapped below; one daemon per process. */
export const requestActivity = new RequestActivity();

/**
 * Starts timing one call. The returned function ends it: it logs (at debug)
 * the method, the duration and the gRPC status code the client got; calls
 * after the first are ignored.
 */
function track(log: Logger, call: { getPath(): string }): (code: number) => void {
  const started = performance.now();
  requestActivity.touch();
  let ended = false;
  return (code) => {
    if (ended) return;
    ended = true;
    requestActivity.touch();
    log.debug('request done', { method: call.getPath(), 'duration.ms': Math.round((performance.now() - started) * 100) / 100, code });
  };
}

/** Wraps an async unary handler: the result or a converted ShoalError goes to the callback. */
export function unary<Req, Res>(
  log: Logger,
  name: string,
  fn: (req: Req, signal: AbortSignal) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void {
  return (call, cb) => {
    const done = track(log, call);
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    reply(log, name, fn(call.request, ctl.signal), cb, ctl.signal, done);
  };
}

/** Wraps an async server-streaming handler; the generator's values are written with backpressure. */
export function serverStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (req: Req, signal: AbortSignal) => AsyncIterable<Res>,
): (call: ServerWritableStream<Req, Res>) => void {
  return (call) => {
    const done = track(log, call);
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    void writeAll(log, name, call, fn(call.request, ctl.signal), ctl.signal).then(done);
  };
}

/** Collects a client stream into an async iterable for the handler; the handler's result goes to the callback. */
export function clientStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (input: AsyncIterable<Req>, signal: AbortSignal) => Promise<Res>,
): (call: ServerReadableStream<Req, Res>, cb: sendUnaryData<Res>) => void {
  return (call, cb) => {
    const done = track(log, call);
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    reply(log, name, fn(requests<Req>(call), ctl.signal), cb, ctl.signal, done);
  };
}

/** Sends a handler's single result, or its error converted at this edge, and ends the call's timing. */
function reply<Res>(
  log: Logger,
  name: string,
  result: Promise<Res>,
  cb: sendUnaryData<Res>,
  signal: AbortSignal,
  done: (code: number) => void,
): void {
  result.then(
    (res) => {
      cb(null, res);
      done(signal.aborted ? GrpcStatus.CANCELLED : GrpcStatus.OK);
    },
    (err: unknown) => {
      log.debug('request failed', { method: name, error: String(err) });
      const e = toServiceError(err);
      cb(e);
      done(signal.aborted ? GrpcStatus.CANCELLED : (e.code ?? GrpcStatus.UNKNOWN));
    },
  );
}

/** A bidirectional handler: reads requests as an async iterable, writes the handler's output. */
export function bidiStream<Req, Res>(
  log: Logger,
  name: string,
  fn: (input: AsyncIterable<Req>, signal: AbortSignal) => AsyncIterable<Res>,
): (call: ServerDuplexStream<Req, Res>) => void {
  return (call) => {
    const done = track(log, call);
    const ctl = new AbortController();
    call.on('cancelled', () => ctl.abort(new Error('the client went away')));
    void writeAll(log, name, call, fn(requests<Req>(call), ctl.signal), ctl.signal).then(done);
  };
}

/**
 * Writes a handler's output to a streaming call with backpressure, then ends
 * it or sends the converted error. Never throws; resolves to the status code
 * the client got (CANCELLED when it went away first).
 */
async function writeAll<Res>(
  log: Logger,
  name: string,
  call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>,
  output: AsyncIterable<Res>,
  signal: AbortSignal,
): Promise<number> {
  try {
    for await (const item of output) {
      if (signal.aborted) break;
      if (!call.write(item)) await waitDrain(call, signal);
    }
    call.end();
    return signal.aborted ? GrpcStatus.CANCELLED : GrpcStatus.OK;
  } catch (err) {
    if (signal.aborted) return GrpcStatus.CANCELLED;
    log.debug('stream failed', { method: name, error: String(err) });
    const e = toServiceError(err);
    call.emit('error', e);
    return e.code ?? GrpcStatus.UNKNOWN;
  }
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
