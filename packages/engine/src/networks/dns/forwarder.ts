import { createSocket } from 'node:dgram';
import { connect, isIP } from 'node:net';
import type { Logger } from '@shoal/api';
import { answersQuery, Rcode, replyHeader } from './message.js';
import type { Query } from './message.js';
import { formatUpstream } from './upstreams.js';
import type { Upstream } from './upstreams.js';

/** Docker tries at most three external servers per query. */
export const MAX_ATTEMPTS = 3;

export interface ForwardOptions {
  upstreams: Upstream[];
  /** Index of the first server to try; the caller rotates it so load spreads (round robin). */
  start: number;
  udp: boolean;
  /** Per attempt. */
  timeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
}

/**
 * Sends the client's query, unchanged (its id, EDNS record and all), to the upstreams in turn and
 * returns the first usable reply unchanged. SERVFAIL, REFUSED and non-authoritative NXDOMAIN move
 * on to the next server (RFC 8020, like Docker); when every server was tried, the last reply
 * received is returned, and undefined when none replied at all (the caller answers SERVFAIL).
 * A truncated UDP reply is passed back so the client retries over TCP. Never throws.
 */
export async function forward(q: Query, o: ForwardOptions): Promise<Buffer | undefined> {
  let last: Buffer | undefined;
  const attempts = Math.min(MAX_ATTEMPTS, o.upstreams.length);
  for (let i = 0; i < attempts && !o.signal.aborted; i++) {
    const up = o.upstreams[(o.start + i) % o.upstreams.length];
    if (up === undefined) continue;
    let reply: Buffer;
    try {
      reply = o.udp ? await exchangeUdp(up, q, o.timeoutMs, o.signal) : await exchangeTcp(up, q, o.timeoutMs, o.signal);
    } catch (err) {
      o.logger.debug('dns upstream failed', { 'dns.upstream': formatUpstream(up), 'dns.name': q.name, error: String(err) });
      continue;
    }
    const h = replyHeader(reply);
    if (h === undefined) continue;
    last = reply;
    if (h.truncated || h.rcode === Rcode.NoError || (h.rcode === Rcode.NxDomain && h.authoritative)) return reply;
    o.logger.debug('dns upstream answered with an error', { 'dns.upstream': formatUpstream(up), 'dns.name': q.name, 'dns.rcode': h.rcode });
  }
  return last;
}

/** One UDP round trip on a fresh socket (a random source port per query defeats spoofed replies). */
function exchangeUdp(up: Upstream, q: Query, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(up.host) === 6 ? 'udp6' : 'udp4');
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.removeAllListeners('message');
      try {
        sock.close();
      } catch {
        // already closed
      }
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const onAbort = (): void => finish(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => finish(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (err) => finish(err));
    sock.on('message', (msg, rinfo) => {
      // Anything but the upstream's reply to this very question is ignored, not trusted.
      if (rinfo.port !== up.port || !sameAddress(rinfo.address, up.host) || !answersQuery(msg, q)) return;
      finish(undefined, msg);
    });
    sock.send(q.raw, up.port, up.host, (err) => {
      if (err) finish(err);
    });
  });
}

/** One TCP round trip with RFC 1035 §4.2.2 length framing. */
function exchangeTcp(up: Upstream, q: Query, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: up.host, port: up.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const onAbort = (): void => finish(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => finish(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error('the server closed the connection without a reply')));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.raw.length, 0);
      sock.write(Buffer.concat([len, q.raw]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) return;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (answersQuery(msg, q)) {
          finish(undefined, Buffer.from(msg));
          return;
        }
      }
    });
  });
}

function sameAddress(a: string, b: string): boolean {
  const norm = (s: string): string => s.toLowerCase().replace(/^::ffff:/, '');
  return norm(a) === norm(b);
}
