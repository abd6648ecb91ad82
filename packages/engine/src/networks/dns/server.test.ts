import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { isFailedPrecondition, isUnavailable, nopLogger } from '@shoal/api';
import { EmbeddedDns } from './server.js';
import type { DnsResolver } from './server.js';

// Each test gets its own loopback address so tests can run concurrently on fixed ports too.
let nextHost = 10;
const host = (): string => `127.0.${Math.floor(nextHost / 250) + 1}.${(nextHost++ % 250) + 1}`;

interface FakeUpstream {
  address: string;
  port: number;
  /** Queries received: transport, decoded packet, raw bytes. */
  seen: { tcp: boolean; q: DecodedPacket; raw: Buffer }[];
  /** How to answer; undefined = stay silent. */
  reply: (q: DecodedPacket, tcp: boolean) => Packet | undefined;
  close(): Promise<void>;
}

/** A tiny upstream DNS server on UDP and TCP with a scripted reply. */
async function fakeUpstream(t: ExecutionContext, reply: FakeUpstream['reply']): Promise<FakeUpstream> {
  const address = host();
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, address, resolve));
  const port = udp.address().port;
  const tcp: TcpServer = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const raw = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + raw.length);
        const q = packet.decode(raw);
        up.seen.push({ tcp: true, q, raw: Buffer.from(raw) });
        const r = up.reply(q, true);
        if (r !== undefined) sock.write(packet.streamEncode(r));
      }
    });
  });
  await new Promise<void>((resolve) => tcp.listen(port, address, resolve));
  const up: FakeUpstream = {
    address,
    port,
    seen: [],
    reply,
    close: async () => {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
  udp.on('message', (raw, rinfo) => {
    const q = packet.decode(raw);
    up.seen.push({ tcp: false, q, raw });
    const r = up.reply(q, false);
    if (r !== undefined) udp.send(packet.encode(r), rinfo.port, rinfo.address);
  });
  t.teardown(() => up.close());
  return up;
}

/** The usual upstream answer: one A record, 192.0.2.1. */
const answerWith =
  (ip = '192.0.2.1', extra: Partial<Packet> = {}) =>
  (q: DecodedPacket): Packet => ({
    id: q.id,
    type: 'response',
    flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE,
    questions: q.questions,
    answers: (q.questions ?? []).filter((x) => x.type === 'A').map((x) => ({ type: 'A', name: x.name, ttl: 30, data: ip })),
    ...extra,
  });

const rcodeReply =
  (rcode: number, aa = false) =>
  (q: DecodedPacket): Packet => ({ id: q.id, type: 'response', flags: rcode | (aa ? packet.AUTHORITATIVE_ANSWER : 0), questions: q.questions });

/** A resolver over a fixed table, remembering who asked. */
function tableResolver(names: Record<string, string[]>, ptr: Record<string, string> = {}) {
  const calls: { clientIp: string; name: string }[] = [];
  const resolver: DnsResolver & { calls: typeof calls } = {
    calls,
    lookup(clientIp, name) {
      calls.push({ clientIp, name });
      const ips = names[name];
      return ips === undefined ? undefined : { ipv4: ips };
    },
    reverse(_clientIp, ip) {
      return ptr[ip];
    },
  };
  return resolver;
}

async function startDns(t: ExecutionContext, resolver: DnsResolver, upstreams: string[] = [], timeoutMs = 300) {
  const dns = new EmbeddedDns({ upstreams, logger: nopLogger, timeoutMs, port: 0 });
  const address = host();
  await dns.listen(address, resolver);
  t.teardown(() => dns.close());
  const port = dns.port(address);
  if (port === undefined) throw new Error('not listening');
  return { dns, address, port };
}

let nextId = 1;
function query(name: string, type: string = 'A', extra: Partial<Packet> = {}): Packet {
  return { id: nextId++ & 0xffff, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ type: type as 'A', name, class: 'IN' }], ...extra };
}

/** Sends raw bytes over UDP and waits up to `waitMs` for one reply (undefined when none comes). */
async function udpRaw(server: { address: string; port: number }, raw: Buffer, waitMs = 1000, from?: string): Promise<Buffer | undefined> {
  const sock: UdpSocket = createSocket('udp4');
  if (from !== undefined) await new Promise<void>((resolve) => sock.bind(0, from, resolve));
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      sock.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      sock.send(raw, server.port, server.address);
    });
  } finally {
    sock.close();
  }
}

async function udp(server: { address: string; port: number }, q: Packet, from?: string): Promise<DecodedPacket> {
  const reply = await udpRaw(server, packet.encode(q), 2000, from);
  if (reply === undefined) throw new Error('no UDP reply');
  return packet.decode(reply);
}

/** Writes `chunks` on one TCP connection and collects `expect` framed replies. */
async function tcpExchange(server: { address: string; port: number }, chunks: Buffer[], expect: number): Promise<DecodedPacket[]> {
  const sock = connect(server.port, server.address);
  const replies: DecodedPacket[] = [];
  try {
    return await new Promise<DecodedPacket[]>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`only ${replies.length} of ${expect} TCP replies`)), 3000);
      sock.on('error', reject);
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          replies.push(packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (replies.length >= expect) {
          clearTimeout(timer);
          resolve(replies);
        }
      });
      sock.on('connect', () => {
        void (async () => {
          for (const c of chunks) {
            sock.write(c);
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
      });
    });
  } finally {
    sock.destroy();
  }
}

const aData = (r: DecodedPacket): string[] => (r.answers ?? []).filter((a) => a.type === 'A').map((a) => (a as { data: string }).data);
const rcodeOf = (r: DecodedPacket): string => (r as DecodedPacket & { rcode: string }).rcode;

test('a container name resolves to its address, case-insensitively, with the id and question echoed', async (t) => {
  const resolver = tableResolver({ web: ['10.1.0.2'] });
  const s = await startDns(t, resolver);
  const q = query('WeB.');
  const r = await udp(s, q);
  t.is(r.id, q.id);
  t.true(r.flag_qr);
  t.true(r.flag_rd);
  t.true(r.flag_ra);
  t.is(rcodeOf(r), 'NOERROR');
  t.deepEqual(r.questions, [{ name: 'WeB', type: 'A', class: 'IN' }]);
  t.deepEqual(aData(r), ['10.1.0.2']);
  t.is(r.answers?.[0]?.name, 'WeB');
  t.is((r.answers?.[0] as { ttl: number }).ttl, 600);
  t.is(resolver.calls.at(-1)?.name, 'web', 'the resolver gets the lower-cased name without the trailing dot');
});

test('every address of a name is answered (an alias shared by several containers)', async (t) => {
  const s = await startDns(t, tableResolver({ db: ['10.1.0.3', '10.1.0.4', '10.1.0.5'] }));
  const r = await udp(s, query('db'));
  t.deepEqual(aData(r).sort(), ['10.1.0.3', '10.1.0.4', '10.1.0.5']);
});

test('the resolver sees the client address the query came from', async (t) => {
  const resolver = tableResolver({ web: ['10.1.0.2'] });
  const s = await startDns(t, resolver);
  const from = host();
  await udp(s, query('web'), from);
  t.is(resolver.calls.at(-1)?.clientIp, from);
});

test('AAAA and other types for one of our names get NOERROR with no answers and are not forwarded', async (t) => {
  const up = await fakeUpstream(t, answerWith());
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'] }), [`${up.address}:${up.port}`]);
  for (const type of ['AAAA', 'MX', 'TXT']) {
    const r = await udp(s, query('web', type));
    t.is(rcodeOf(r), 'NOERROR', type);
    t.deepEqual(r.answers, [], type);
    t.deepEqual(r.questions?.[0]?.type, type);
  }
  t.is(up.seen.length, 0);
});

test('a PTR query for one of our addresses names the container; others are forwarded', async (t) => {
  const up = await fakeUpstream(t, (q) => ({
    id: q.id,
    type: 'response',
    flags: packet.RECURSION_AVAILABLE,
    questions: q.questions,
    answers: [{ type: 'PTR', name: q.questions?.[0]?.name ?? '', ttl: 30, data: 'elsewhere.example' }],
  }));
  const s = await startDns(t, tableResolver({}, { '10.1.0.2': 'web.mynet', 'fd00::2': 'v6.mynet' }), [`${up.address}:${up.port}`]);
  const r = await udp(s, query('2.0.1.10.in-addr.arpa', 'PTR'));
  t.deepEqual(
    (r.answers ?? []).map((a: Answer) => [a.type, a.name, (a as { data: string }).data]),
    [['PTR', '2.0.1.10.in-addr.arpa', 'web.mynet']],
  );
  const v6 = await udp(s, query(`${'2.0.0.0.'.repeat(1)}${'0.0.0.0.'.repeat(6)}0.0.d.f.ip6.arpa`, 'PTR'));
  t.is((v6.answers?.[0] as { data: string } | undefined)?.data, 'v6.mynet');
  t.is(up.seen.length, 0);
  const other = await udp(s, query('9.9.9.9.in-addr.arpa', 'PTR'));
  t.is((other.answers?.[0] as { data: string } | undefined)?.data, 'elsewhere.example');
  t.is(up.seen.length, 1);
});

test('other names are forwarded and the upstream reply is passed back unchanged, EDNS included', async (t) => {
  const up = await fakeUpstream(t, answerWith('192.0.2.7', {
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  }));
  const resolver = tableResolver({ web: ['10.1.0.2'] });
  const s = await startDns(t, resolver, [`${up.address}:${up.port}`]);
  const q = query('Example.COM', 'A', {
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: packet.DNSSEC_OK, flag_do: true, options: [] }],
  });
  const sent = packet.encode(q);
  const r = await udp(s, q);
  t.is(r.id, q.id);
  t.deepEqual(aData(r), ['192.0.2.7']);
  t.is(up.seen.length, 1);
  t.false(up.seen[0]?.tcp);
  t.deepEqual(up.seen[0]?.raw, sent, 'the query reaches the upstream byte for byte');
  t.is(r.additionals?.find((a) => a.type === 'OPT')?.type, 'OPT');
});

test('a query over TCP is forwarded over TCP', async (t) => {
  const up = await fakeUpstream(t, answerWith('192.0.2.8'));
  const s = await startDns(t, tableResolver({}), [`${up.address}:${up.port}`]);
  const [r] = await tcpExchange(s, [packet.streamEncode(query('example.org'))], 1);
  t.deepEqual(aData(r as DecodedPacket), ['192.0.2.8']);
  t.true(up.seen[0]?.tcp);
});

test('a failing upstream is skipped: SERVFAIL, REFUSED and silence move on to the next server', async (t) => {
  const failing = await fakeUpstream(t, rcodeReply(2));
  const refusing = await fakeUpstream(t, rcodeReply(5));
  const silent = await fakeUpstream(t, () => undefined);
  const good = await fakeUpstream(t, answerWith('192.0.2.9'));
  for (const first of [failing, refusing, silent]) {
    const s = await startDns(t, tableResolver({}), [`${first.address}:${first.port}`, `${good.address}:${good.port}`], 200);
    const r = await udp(s, query('example.net'));
    t.deepEqual(aData(r), ['192.0.2.9']);
    t.true(first.seen.length >= 1);
  }
});

test('upstreams are used round robin across queries', async (t) => {
  const a = await fakeUpstream(t, answerWith('192.0.2.1'));
  const b = await fakeUpstream(t, answerWith('192.0.2.2'));
  const s = await startDns(t, tableResolver({}), [`${a.address}:${a.port}`, `${b.address}:${b.port}`]);
  const got = new Set<string>();
  for (let i = 0; i < 4; i++) got.add(aData(await udp(s, query(`n${i}.example`)))[0] ?? '');
  t.deepEqual([...got].sort(), ['192.0.2.1', '192.0.2.2']);
  t.is(a.seen.length, 2);
  t.is(b.seen.length, 2);
});

test('an authoritative NXDOMAIN is final; a non-authoritative one tries the next server', async (t) => {
  const authoritative = await fakeUpstream(t, rcodeReply(3, true));
  const plain = await fakeUpstream(t, rcodeReply(3, false));
  const good = await fakeUpstream(t, answerWith('192.0.2.10'));
  const s1 = await startDns(t, tableResolver({}), [`${authoritative.address}:${authoritative.port}`, `${good.address}:${good.port}`]);
  t.is(rcodeOf(await udp(s1, query('nope.example'))), 'NXDOMAIN');
  t.is(good.seen.length, 0);
  const s2 = await startDns(t, tableResolver({}), [`${plain.address}:${plain.port}`, `${good.address}:${good.port}`]);
  t.deepEqual(aData(await udp(s2, query('nope.example'))), ['192.0.2.10']);
});

test('the last error reply is passed on when every upstream fails; SERVFAIL when none answers', async (t) => {
  const plain = await fakeUpstream(t, rcodeReply(3, false));
  const silent = await fakeUpstream(t, () => undefined);
  const s1 = await startDns(t, tableResolver({}), [`${plain.address}:${plain.port}`]);
  t.is(rcodeOf(await udp(s1, query('nope.example'))), 'NXDOMAIN');
  const s2 = await startDns(t, tableResolver({}), [`${silent.address}:${silent.port}`], 150);
  const q = query('slow.example');
  const started = Date.now();
  const r = await udp(s2, q);
  t.is(rcodeOf(r), 'SERVFAIL');
  t.is(r.id, q.id);
  t.deepEqual(r.questions?.[0]?.name, 'slow.example');
  t.true(Date.now() - started < 1500, 'the per-query timeout bounds the wait');
  const s3 = await startDns(t, tableResolver({}), []);
  t.is(rcodeOf(await udp(s3, query('any.example'))), 'SERVFAIL');
});

test("a container's own --dns servers replace the daemon's upstreams", async (t) => {
  const daemonUp = await fakeUpstream(t, answerWith('192.0.2.1'));
  const own = await fakeUpstream(t, answerWith('192.0.2.99'));
  const resolver = tableResolver({});
  const client = host();
  const r: DnsResolver = { ...resolver, upstreams: (ip) => (ip === client ? [`${own.address}:${own.port}`] : undefined) };
  const s = await startDns(t, r, [`${daemonUp.address}:${daemonUp.port}`]);
  t.deepEqual(aData(await udp(s, query('x.example'), client)), ['192.0.2.99']);
  t.deepEqual(aData(await udp(s, query('x.example'))), ['192.0.2.1']);
});

test('a truncated upstream UDP reply is passed back so the client retries over TCP', async (t) => {
  const up = await fakeUpstream(t, (q, tcp) => (tcp ? answerWith('192.0.2.5')(q) : { ...rcodeReply(0)(q), flags: packet.TRUNCATED_RESPONSE }));
  const s = await startDns(t, tableResolver({}), [`${up.address}:${up.port}`]);
  const r = await udp(s, query('big.example'));
  t.true(r.flag_tc);
  const [viaTcp] = await tcpExchange(s, [packet.streamEncode(query('big.example'))], 1);
  t.deepEqual(aData(viaTcp as DecodedPacket), ['192.0.2.5']);
});

test('a UDP answer over 512 bytes without EDNS is truncated with TC; EDNS and TCP get everything', async (t) => {
  const many = Array.from({ length: 60 }, (_, i) => `10.2.0.${i + 2}`);
  const s = await startDns(t, tableResolver({ 'a-rather-long-service-name-for-the-test': many }));
  const name = 'a-rather-long-service-name-for-the-test';
  const rawPlain = await udpRaw(s, packet.encode(query(name)));
  t.truthy(rawPlain);
  t.true((rawPlain?.length ?? 0) <= 512);
  const plain = packet.decode(rawPlain as Buffer);
  t.true(plain.flag_tc);
  t.true(aData(plain).length > 0 && aData(plain).length < 60);

  const edns = await udp(s, query(name, 'A', {
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  }));
  t.false(edns.flag_tc);
  t.is(aData(edns).length, 60);
  t.is(edns.additionals?.[0]?.type, 'OPT');

  const [viaTcp] = await tcpExchange(s, [packet.streamEncode(query(name))], 1);
  t.false((viaTcp as DecodedPacket).flag_tc);
  t.is(aData(viaTcp as DecodedPacket).length, 60);
});

test('TCP framing: pipelined queries in one segment and a query split across segments are all answered', async (t) => {
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'], db: ['10.1.0.3'], cache: ['10.1.0.4'] }));
  const q1 = query('web');
  const q2 = query('db');
  const q3 = packet.streamEncode(query('cache'));
  const replies = await tcpExchange(s, [Buffer.concat([packet.streamEncode(q1), packet.streamEncode(q2)]), q3.subarray(0, 1), q3.subarray(1, 9), q3.subarray(9)], 3);
  const byName = new Map(replies.map((r) => [r.questions?.[0]?.name, aData(r)]));
  t.deepEqual(byName.get('web'), ['10.1.0.2']);
  t.deepEqual(byName.get('db'), ['10.1.0.3']);
  t.deepEqual(byName.get('cache'), ['10.1.0.4']);
  t.deepEqual(new Set(replies.map((r) => r.id)), new Set([q1.id, q2.id, replies.find((r) => r.questions?.[0]?.name === 'cache')?.id]));
});

test('malformed packets, responses and question-less packets are dropped and the server keeps answering', async (t) => {
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'] }));
  const good = packet.encode(query('web'));
  const garbage = [
    Buffer.from('hello'),
    Buffer.alloc(0),
    good.subarray(0, good.length - 3),
    packet.encode({ id: 7, type: 'response', flags: 0, questions: [{ type: 'A', name: 'web' }] }),
    packet.encode({ id: 8, type: 'query', flags: 0, questions: [] }),
    Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0xff]),
  ];
  for (const g of garbage) t.is(await udpRaw(s, g, 150), undefined);
  // Garbage over TCP does not kill the connection's later queries either.
  const framed = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const [r] = await tcpExchange(s, [framed(Buffer.from('nonsense!')), framed(good)], 1);
  t.deepEqual(aData(r as DecodedPacket), ['10.1.0.2']);
  t.deepEqual(aData(await udp(s, query('web'))), ['10.1.0.2']);
});

test('a resolver that throws gives SERVFAIL, not a crash', async (t) => {
  const s = await startDns(t, {
    lookup: () => {
      throw new Error('boom');
    },
    reverse: () => undefined,
  });
  t.is(rcodeOf(await udp(s, query('web'))), 'SERVFAIL');
});

test('a non-QUERY opcode gets NOTIMP', async (t) => {
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'] }));
  const raw = packet.encode(query('web'));
  raw.writeUInt16BE(raw.readUInt16BE(2) | (2 << 11), 2); // STATUS
  const reply = await udpRaw(s, raw);
  t.is(rcodeOf(packet.decode(reply as Buffer)), 'NOTIMP');
});

test('unlisten stops answering and frees the port; listening again works', async (t) => {
  const dns = new EmbeddedDns({ upstreams: [], logger: nopLogger, port: 0 });
  t.teardown(() => dns.close());
  const address = host();
  await dns.listen(address, tableResolver({ web: ['10.1.0.2'] }));
  const port = dns.port(address) as number;
  t.deepEqual(dns.addresses(), [address]);
  await dns.unlisten(address);
  t.deepEqual(dns.addresses(), []);
  t.is(await udpRaw({ address, port }, packet.encode(query('web')), 200), undefined);
  await t.throwsAsync(tcpExchange({ address, port }, [packet.streamEncode(query('web'))], 1), { message: /ECONNREFUSED/ });
  // The same address and port can be bound again by someone else.
  const again = new EmbeddedDns({ upstreams: [], logger: nopLogger, port });
  t.teardown(() => again.close());
  await again.listen(address, tableResolver({ web: ['10.9.9.9'] }));
  t.deepEqual(aData(await udp({ address, port }, query('web'))), ['10.9.9.9']);
});

test('listening twice on an address swaps the resolver', async (t) => {
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'] }));
  await s.dns.listen(s.address, tableResolver({ web: ['10.1.0.7'] }));
  t.deepEqual(aData(await udp(s, query('web'))), ['10.1.0.7']);
});

test('a taken port or a foreign address is a clear error and leaves nothing open', async (t) => {
  const s = await startDns(t, tableResolver({}));
  const other = new EmbeddedDns({ upstreams: [], logger: nopLogger, port: s.port });
  t.teardown(() => other.close());
  const err = await t.throwsAsync(other.listen(s.address, tableResolver({})));
  t.true(isUnavailable(err));
  t.regex(err?.message ?? '', /already in use/);
  t.deepEqual(other.addresses(), []);
  const foreign = await t.throwsAsync(other.listen('192.0.2.123', tableResolver({})));
  t.true(isFailedPrecondition(foreign));
  t.regex(foreign?.message ?? '', /not assigned to an interface/);
});

test('an aborted signal stops listen before anything is bound', async (t) => {
  const dns = new EmbeddedDns({ upstreams: [], logger: nopLogger, port: 0 });
  const ctl = new AbortController();
  ctl.abort(new Error('stop'));
  await t.throwsAsync(dns.listen(host(), tableResolver({}), ctl.signal), { message: 'stop' });
  t.deepEqual(dns.addresses(), []);
});

test('a bad upstream is refused when the server is made', (t) => {
  t.throws(() => new EmbeddedDns({ upstreams: ['dns.example'], logger: nopLogger }), { message: /Invalid DNS server "dns.example"/ });
});

test('a burst of sequential queries is all answered (latency logged; the bench reports the real figure)', async (t) => {
  const s = await startDns(t, tableResolver({ web: ['10.1.0.2'] }));
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  const times: number[] = [];
  const raw = packet.encode(query('web'));
  for (let i = 0; i < 500; i++) {
    const t0 = process.hrtime.bigint();
    const reply = await new Promise<Buffer>((resolve) => {
      sock.once('message', (msg) => resolve(msg));
      sock.send(raw, s.port, s.address);
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    t.deepEqual(aData(packet.decode(reply)), ['10.1.0.2']);
  }
  times.sort((a, b) => a - b);
  t.log(`p50 ${times[250]?.toFixed(3)} ms, p99 ${times[495]?.toFixed(3)} ms`);
});

test('two concurrent listens on one address bind once; the later resolver wins', async (t) => {
  const dns = new EmbeddedDns({ upstreams: [], logger: nopLogger, port: 0 });
  t.teardown(() => dns.close());
  const address = host();
  await Promise.all([dns.listen(address, tableResolver({ web: ['10.1.0.2'] })), dns.listen(address, tableResolver({ web: ['10.1.0.8'] }))]);
  t.deepEqual(dns.addresses(), [address]);
  t.deepEqual(aData(await udp({ address, port: dns.port(address) as number }, query('web'))), ['10.1.0.8']);
});
