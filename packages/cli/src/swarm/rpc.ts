// Unary Control calls with the response type the caller names (the generated
// __Output types mark every message field nullable, though the daemon always
// sets the ones we read).
import type { ClientUnaryCall, ServiceError } from '@grpc/grpc-js';
import { unary } from '../client/connect.js';
import { parseFilters } from '../commands/shared.js';

/**
 * One unary call; cancelled when `signal` aborts.
 * @throws the daemon's error as a ShoalError with exit code 1: docker's node,
 *   service and swarm commands exit 1 on a daemon error (125 is for usage errors).
 */
export function rpc<T>(start: (cb: (err: ServiceError | null, res?: unknown) => void) => ClientUnaryCall, signal?: AbortSignal): Promise<T> {
  return unary<T>(start as (cb: (err: ServiceError | null, res?: T) => void) => ClientUnaryCall, signal).catch((err: unknown) => {
    const e = err as { name?: string; exitCode?: number };
    if (e.name === 'ShoalError' && e.exitCode === undefined) e.exitCode = 1;
    throw err;
  });
}

/** Repeated `--filter key=value` as plain pairs. Throws UsageError for a value without "=". */
export function filterPairs(values: unknown): Array<{ key: string; value: string }> {
  return parseFilters(values).map((f) => ({ key: f.key ?? '', value: f.value ?? '' }));
}
