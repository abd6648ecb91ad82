// Small adapters between grpc-js calls and AbortSignal.
import type { ClientReadableStream, ClientUnaryCall, Metadata, requestCallback } from '@grpc/grpc-js';
import { fromServiceError } from '@shoal/api';

/**
 * Runs a unary call that ends with `signal` or after `timeoutMs`.
 * @throws the call's error as a ShoalError; the signal's reason on abort.
 */
export function unary<Res>(
  call: (metadata: Metadata, options: { deadline: Date }, cb: requestCallback<Res>) => ClientUnaryCall,
  metadata: Metadata,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      c.cancel();
      reject(signal.reason as Error);
    };
    const c = call(metadata, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      signal.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err));
      else if (res === undefined) reject(new Error('empty response'));
      else resolve(res);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The messages of a server stream, until it ends; cancels it when `signal`
 * aborts (the iteration then throws the signal's reason).
 * @throws the stream's error as a ShoalError.
 */
export async function* messages<T>(stream: ClientReadableStream<T>, signal: AbortSignal): AsyncGenerator<T> {
  const onAbort = (): void => stream.cancel();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of stream) yield msg as T;
  } catch (err) {
    signal.throwIfAborted();
    throw fromServiceError(err);
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.cancel();
  }
  signal.throwIfAborted();
}
