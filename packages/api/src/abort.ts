/** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Throws the signal's reason if it has aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  signal?.throwIfAborted();
}

/**
 * Runs `fn` with a signal that aborts when `parent` does, and removes the
 * listener afterwards so long-lived parents do not accumulate listeners.
 */
export async function withChildSignal<T>(
  parent: AbortSignal | undefined,
  fn: (signal: AbortSignal, abort: (reason?: unknown) => void) => Promise<T>,
): Promise<T> {
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort(parent?.reason);
  if (parent?.aborted) ctl.abort(parent.reason);
  else parent?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(ctl.signal, (reason) => ctl.abort(reason));
  } finally {
    parent?.removeEventListener('abort', onAbort);
  }
}
