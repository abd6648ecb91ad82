import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { invalidArgument, nopLogger, unavailable } from '@shoal/api';
import type { Logger } from '@shoal/api';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  logger?: Logger;
}

export interface MetricsServer {
  /** The address actually bound, `host:port` (`[v6]:port` for IPv6): useful with port 0. */
  readonly address: string;
  readonly port: number;
  /** Settles once the server has closed after the signal aborted. */
  readonly closed: Promise<void>;
}

/**
 * Splits a `--metrics-addr` value: `HOST:PORT`, `[V6]:PORT` or `:PORT` (all
 * interfaces).
 * @throws ShoalError InvalidArgument when it is none of these.
 */
export function parseListenAddress(addr: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw invalidArgument(
      `Invalid metrics address "${addr}": give HOST:PORT, [IPv6]:PORT or :PORT (e.g. --metrics-addr 127.0.0.1:9323).`,
    );
  }
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

/**
 * Serves `registry` in the Prometheus text format at `GET /metrics` on `addr`
 * until `signal` aborts. Resolves once listening.
 * @throws ShoalError InvalidArgument for a malformed address; Unavailable
 *   when the address cannot be bound (in use, not local, no permission);
 *   the signal's reason when it has already aborted.
 */
export async function startMetricsServer(
  addr: string,
  registry: Registry,
  signal: AbortSignal,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(addr);
  signal.throwIfAborted();
  const log = (options.logger ?? nopLogger).child({ component: 'metrics' });

  const server = createServer((req, res) => void handle(req, res, registry, log));
  // A scraper that keeps its connection open must not hold shutdown back.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        unavailable(
          `Cannot serve metrics on ${addr}: ${err.code ?? err.message}; choose a free local address for --metrics-addr.`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const bound = server.address() as AddressInfo;
  const address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  log.info('serving metrics', { 'metrics.addr': address });
  server.on('error', (err) => log.error('metrics server error', { error: err.message }));

  const closed = new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  return { address, port: bound.port, closed };
}

async function handle(req: IncomingMessage, res: ServerResponse, registry: Registry, log: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Not found: Shoal serves its metrics at /metrics.\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Only GET and HEAD are allowed on /metrics.\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error('collecting metrics failed', { error: message });
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`Collecting metrics failed: ${message}\n`);
  }
}
