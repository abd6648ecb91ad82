import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP } from 'node:net';
import type { Server as TcpServer, Socket as TcpSocket } from 'node:net';
import { failedPrecondition, internal, unavailable } from '@shoal/api';
import type { Logger } from '@shoal/api';
import type { Answer } from 'dns-packet';
import { forward } from './forwarder.js';
import { buildReply, CLASSIC_UDP_SIZE, parseQuery, Rcode, reverseAddress, shuffle } from './message.js';
import type { Query } from './message.js';
import { formatUpstream, parseUpstream } from './upstreams.js';
import type { Upstream } from './upstreams.js';

/** What a network knows about names, asked per query. */
export interface DnsResolver {
  /**
   * The IPv4 addresses of `name` as seen by the container at `clientIp` (its networks' container
   * names, aliases and link aliases). `name` is lower-cased with no trailing dot. An empty list
   * means "ours, but no IPv4 address"; undefined means "not ours": the query is forwarded.
   */
  lookup(clientIp: string, name: string): { ipv4: string[] } | undefined;
  /** The name for `ip` (dotted IPv4 or compressed IPv6) as seen from `clientIp`, or undefined to forward. */
  reverse(clientIp: string, ip: string): string | undefined;
  /** The container's own `--dns` servers (ip[:port]), used instead of the daemon's upstreams when non-empty. */
  upstreams?(clientIp: string): string[] | undefined;
}

export interface EmbeddedDnsOptions {
  /** The servers other names are forwarded to, as ip[:port] (see daemonUpstreams). */
  upstreams: string[];
  logger: Logger;
  /** How long one upstream has to answer before the next is tried. Default 4000 ms, as Docker. */
  timeoutMs?: number;
  /** The port listened on. Default 53; 0 picks a free port (tests), see port(). */
  port?: number;
}

/** Docker's TTL for the names it answers. */
const TTL = 600;
/** Docker's cap on forwarded queries in flight; beyond it clients get SERVFAIL instead of piling up sockets. */
const MAX_IN_FLIGHT = 1024;
/** TCP clients that say nothing for this long are disconnected (RFC 7766 §6.2.3 recommends seconds). */
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 256;

interface Listener {
  address: string;
  port: number;
  resolver: DnsResolver;
  udp: UdpSocket;
  tcp: TcpServer;
  conns: Set<TcpSocket>;
  /** Aborts the listener's forwarded queries when it stops. */
  stop: AbortController;
}

/**
 * Docker-style embedded DNS: one UDP and one TCP socket per listen address (a network's gateway),
 * answering A/AAAA/PTR for the network's own names from a DnsResolver and forwarding everything
 * else to upstream servers.
 */
export class EmbeddedDns {
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #port: number;
  readonly #listeners = new Map<string, Listener>();
  /** Binds in progress, so a second listen on the same address waits instead of failing with "in use". */
  readonly #binding = new Map<string, Promise<void>>();
  #upstreams: Upstream[];
  #rotation = 0;
  #inFlight = 0;

  /** Throws InvalidArgument when an upstream is not ip[:port]. */
  constructor(o: EmbeddedDnsOptions) {
    this.#logger = o.logger.child({ component: 'dns' });
    this.#timeoutMs = o.timeoutMs ?? 4000;
    this.#port = o.port ?? 53;
    this.#upstreams = o.upstreams.map(parseUpstream);
  }

  /** Replaces the default upstream servers (e.g. after the daemon re-read resolv.conf). Throws InvalidArgument. */
  setUpstreams(upstreams: string[]): void {
    this.#upstreams = upstreams.map(parseUpstream);
  }

  /** The default upstream servers as ip:port. */
  upstreams(): string[] {
    return this.#upstreams.map(formatUpstream);
  }

  /** The addresses listened on. */
  addresses(): string[] {
    return [...this.#listeners.keys()];
  }

  /** The port bound on `address` (useful with port 0), or undefined when not listening there. */
  port(address: string): number | undefined {
    return this.#listeners.get(address)?.port;
  }

  /**
   * Starts answering on address:port over UDP and TCP with `resolver`. Listening again on an
   * address already served only swaps the resolver (so recovery after a restart is idempotent).
   * `signal` aborts the binding. Throws Unavailable when the port is taken, FailedPrecondition
   * when the address is not on this host, or the signal's reason; nothing stays open on failure.
   */
  async listen(address: string, resolver: DnsResolver, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const pending = this.#binding.get(address);
    if (pending !== undefined) await pending.catch(() => undefined);
    const existing = this.#listeners.get(address);
    if (existing !== undefined) {
      existing.resolver = resolver;
      return;
    }
    const bind = this.#bind(address, resolver, signal);
    this.#binding.set(address, bind);
    try {
      await bind;
    } finally {
      if (this.#binding.get(address) === bind) this.#binding.delete(address);
    }
  }

  async #bind(address: string, resolver: DnsResolver, signal?: AbortSignal): Promise<void> {
    const attempts = this.#port === 0 ? 5 : 1;
    for (let i = 1; ; i++) {
      const udp = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
      let tcp: TcpServer | undefined;
      try {
        const port = await bindUdp(udp, address, this.#port, signal);
        tcp = createServer();
        await listenTcp(tcp, address, port, signal);
        this.#start({ address, port, resolver, udp, tcp, conns: new Set(), stop: new AbortController() });
        this.#logger.info('dns listening', { 'dns.address': address, 'dns.port': port });
        return;
      } catch (err) {
        closeQuietly(udp);
        tcp?.close();
        if (signal?.aborted) throw signal.reason;
        // With port 0 the TCP side may find the UDP port taken by someone else: pick another.
        if (i < attempts && code(err) === 'EADDRINUSE') continue;
        throw bindError(err, address, this.#port);
      }
    }
  }

  /** Stops answering on `address`: closes its sockets and connections and abandons its forwarded queries. */
  async unlisten(address: string): Promise<void> {
    const l = this.#listeners.get(address);
    if (l === undefined) return;
    this.#listeners.delete(address);
    l.stop.abort(new Error('the DNS listener stopped'));
    closeQuietly(l.udp);
    for (const c of l.conns) c.destroy();
    await new Promise<void>((resolve) => l.tcp.close(() => resolve()));
    this.#logger.info('dns stopped', { 'dns.address': address });
  }

  /** Stops every listener. */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners.keys()].map((a) => this.unlisten(a)));
  }

  /**
   * The reply to one raw query from `clientIp` as served on `address`; undefined when the packet is
   * dropped (malformed, a response, or the listener went away). Never throws.
   */
  async answer(address: string, raw: Buffer, clientIp: string, udp: boolean): Promise<Buffer | undefined> {
    const l = this.#listeners.get(address);
    return l === undefined ? undefined : this.#serve(l, raw, clientIp, udp);
  }

  #start(l: Listener): void {
    this.#listeners.set(l.address, l);
    l.udp.on('message', (msg, rinfo) => {
      void this.#serve(l, msg, clientAddress(rinfo.address), true).then((reply) => {
        if (reply === undefined || l.stop.signal.aborted) return;
        l.udp.send(reply, rinfo.port, rinfo.address, (err) => {
          if (err) this.#logger.debug('dns reply not sent', { error: String(err) });
        });
      });
    });
    l.udp.on('error', (err) => this.#logger.warn('dns UDP socket error', { 'dns.address': l.address, error: String(err) }));
    l.tcp.on('connection', (sock) => this.#serveTcp(l, sock));
    l.tcp.on('error', (err) => this.#logger.warn('dns TCP socket error', { 'dns.address': l.address, error: String(err) }));
  }

  #serveTcp(l: Listener, sock: TcpSocket): void {
    if (l.conns.size >= MAX_TCP_CONNECTIONS || l.stop.signal.aborted) {
      sock.destroy();
      return;
    }
    l.conns.add(sock);
    const clientIp = clientAddress(sock.remoteAddress ?? '');
    let buf: Buffer = Buffer.alloc(0);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => l.conns.delete(sock));
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // Several queries may arrive in one segment, or one across several (RFC 7766 pipelining).
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (n === 0) {
          sock.destroy();
          return;
        }
        if (buf.length < 2 + n) return;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        void this.#serve(l, msg, clientIp, false).then((reply) => {
          if (reply === undefined || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length, 0);
          sock.write(Buffer.concat([len, reply]));
        });
      }
    });
  }

  async #serve(l: Listener, raw: Buffer, clientIp: string, udp: boolean): Promise<Buffer | undefined> {
    const q = parseQuery(raw);
    if (q === undefined) return undefined;
    const maxSize = udp ? Math.max(CLASSIC_UDP_SIZE, q.ednsSize ?? 0) : 0xffff;
    try {
      if (q.opcode !== 0) return buildReply(q, { rcode: Rcode.NotImp, maxSize, udp });
      const local = this.#answerLocally(l.resolver, q, clientIp);
      if (local !== undefined) return buildReply(q, { rcode: Rcode.NoError, answers: local, maxSize, udp });
      return await this.#forward(l, q, clientIp, udp, maxSize);
    } catch (err) {
      this.#logger.warn('dns query failed', { 'dns.name': q.name, 'dns.type': q.type, error: String(err) });
      return buildReply(q, { rcode: Rcode.ServFail, maxSize, udp });
    }
  }

  /** Our answers for `q`, or undefined when the name is not ours. */
  #answerLocally(resolver: DnsResolver, q: Query, clientIp: string): Answer[] | undefined {
    if (q.class !== 'IN') return undefined;
    const name = q.name.toLowerCase().replace(/\.$/, '');
    if (q.type === 'PTR') {
      const ip = reverseAddress(name);
      const host = ip === undefined ? undefined : resolver.reverse(clientIp, ip);
      if (host === undefined || host === '') return undefined;
      return [{ type: 'PTR', name: q.name, class: 'IN', ttl: TTL, data: host }];
    }
    const found = resolver.lookup(clientIp, name);
    if (found === undefined) return undefined;
    if (q.type !== 'A') return []; // ours, but only IPv4 (AAAA) or nothing of this type: NOERROR, no answers
    return shuffle([...found.ipv4]).map((ip) => ({ type: 'A' as const, name: q.name, class: 'IN' as const, ttl: TTL, data: ip }));
  }

  async #forward(l: Listener, q: Query, clientIp: string, udp: boolean, maxSize: number): Promise<Buffer | undefined> {
    const own = l.resolver.upstreams?.(clientIp) ?? [];
    const upstreams = own.length > 0 ? own.map(parseUpstream) : this.#upstreams;
    if (upstreams.length === 0 || this.#inFlight >= MAX_IN_FLIGHT) {
      return buildReply(q, { rcode: Rcode.ServFail, maxSize, udp });
    }
    this.#inFlight++;
    try {
      const start = this.#rotation++ % upstreams.length;
      const reply = await forward(q, { upstreams, start, udp, timeoutMs: this.#timeoutMs, signal: l.stop.signal, logger: this.#logger });
      if (l.stop.signal.aborted) return undefined;
      return reply ?? buildReply(q, { rcode: Rcode.ServFail, maxSize, udp });
    } finally {
      this.#inFlight--;
    }
  }
}

function bindUdp(sock: UdpSocket, address: string, port: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal?.reason as Error);
    const onError = (err: Error): void => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      resolve(sock.address().port);
    });
  });
}

function listenTcp(server: TcpServer, address: string, port: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal?.reason as Error);
    const onError = (err: Error): void => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

function closeQuietly(sock: UdpSocket): void {
  try {
    sock.close();
  } catch {
    // not bound or already closed
  }
}

function code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function bindError(err: unknown, address: string, port: number): Error {
  const where = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  switch (code(err)) {
    case 'EADDRINUSE':
      return unavailable(`Cannot start the embedded DNS server on ${where}: the port is already in use; stop the program listening there.`, { cause: err });
    case 'EADDRNOTAVAIL':
      return failedPrecondition(`Cannot start the embedded DNS server on ${where}: the address is not assigned to an interface of this host.`, { cause: err });
    case 'EACCES':
      return failedPrecondition(`Cannot start the embedded DNS server on ${where}: binding a port below 1024 needs root.`, { cause: err });
    default:
      return internal(`Cannot start the embedded DNS server on ${where}: ${err instanceof Error ? err.message : String(err)}.`, { cause: err });
  }
}

/** IPv4 clients of a dual-stack socket show up as ::ffff:a.b.c.d. */
function clientAddress(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}
