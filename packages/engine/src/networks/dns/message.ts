import * as packet from 'dns-packet';
import type { Answer } from 'dns-packet';

/** Response codes the embedded server sends itself (RFC 1035 §4.1.1). */
export const Rcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

const QR = 1 << 15;
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const RA = 1 << 7;
const HEADER = 12;

/** Largest UDP answer for a client that did not advertise a size with EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_SIZE = 512;

/** A decoded query with its first question kept as raw bytes, so replies echo it exactly. */
export interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  /** The name as asked (case kept, no trailing dot). */
  name: string;
  /** dns-packet's type name: "A", "AAAA", "PTR", … or "UNKNOWN_<n>". */
  type: string;
  class: string;
  question: Buffer;
  /** The client's EDNS UDP payload size, when the query carries an OPT record. */
  ednsSize?: number;
  raw: Buffer;
}

/**
 * Decodes a query. Returns undefined for anything that is not a well-formed query with at least
 * one question (responses, truncated or garbage packets): such packets are dropped, not answered.
 */
export function parseQuery(raw: Buffer): Query | undefined {
  if (raw.length < HEADER) return undefined;
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(raw);
  } catch {
    return undefined;
  }
  const q = decoded.questions?.[0];
  if (decoded.flag_qr || q === undefined) return undefined;
  const end = questionEnd(raw, HEADER);
  if (end === undefined) return undefined;
  const flags = raw.readUInt16BE(2);
  const opt = decoded.additionals?.find((a) => a.type === 'OPT');
  const query: Query = {
    id: raw.readUInt16BE(0),
    opcode: (flags >> 11) & 0xf,
    rd: (flags & RD) !== 0,
    name: q.name,
    type: q.type,
    class: q.class ?? 'IN',
    question: raw.subarray(HEADER, end),
    raw,
  };
  if (opt !== undefined && 'udpPayloadSize' in opt) query.ednsSize = opt.udpPayloadSize;
  return query;
}

/** The offset just past the question that starts at `offset`, or undefined when it runs off the end. */
export function questionEnd(buf: Buffer, offset: number): number | undefined {
  let at = offset;
  for (;;) {
    const len = buf[at];
    if (len === undefined) return undefined;
    if ((len & 0xc0) === 0xc0) {
      at += 2;
      break;
    }
    if ((len & 0xc0) !== 0) return undefined;
    at += 1 + len;
    if (len === 0) break;
  }
  at += 4;
  return at <= buf.length ? at : undefined;
}

export interface ReplyOptions {
  rcode: number;
  answers?: Answer[];
  /** The most bytes the client accepts; extra answers are dropped and, on UDP, TC is set. */
  maxSize: number;
  udp: boolean;
}

/**
 * A reply to `q`: same id, opcode, RD bit and question bytes, RA set (we recurse through the
 * upstreams). Answers that do not fit in `maxSize` are dropped from the end; on UDP the TC bit then
 * tells the client to retry over TCP. An OPT record is added when the query had one.
 */
export function buildReply(q: Query, o: ReplyOptions): Buffer {
  const answers = [...(o.answers ?? [])];
  const additionals: Answer[] =
    q.ednsSize === undefined
      ? []
      : [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  let truncated = false;
  for (;;) {
    const body = packet.encode({ id: 0, type: 'response', flags: 0, answers, additionals }).subarray(HEADER);
    const size = HEADER + q.question.length + body.length;
    if (size <= o.maxSize || answers.length === 0) {
      const head = Buffer.alloc(HEADER);
      head.writeUInt16BE(q.id, 0);
      head.writeUInt16BE(QR | (q.opcode << 11) | (q.rd ? RD : 0) | RA | (truncated && o.udp ? TC : 0) | (o.rcode & 0xf), 2);
      head.writeUInt16BE(1, 4);
      head.writeUInt16BE(answers.length, 6);
      head.writeUInt16BE(0, 8);
      head.writeUInt16BE(additionals.length, 10);
      return Buffer.concat([head, q.question, body]);
    }
    answers.pop();
    truncated = true;
  }
}

/** The header fields the forwarder looks at in an upstream's reply. */
export interface ReplyHeader {
  id: number;
  rcode: number;
  authoritative: boolean;
  truncated: boolean;
}

/** Reads a reply's header, or undefined when `buf` is not a reply. */
export function replyHeader(buf: Buffer): ReplyHeader | undefined {
  if (buf.length < HEADER) return undefined;
  const flags = buf.readUInt16BE(2);
  if ((flags & QR) === 0) return undefined;
  return { id: buf.readUInt16BE(0), rcode: flags & 0xf, authoritative: (flags & AA) !== 0, truncated: (flags & TC) !== 0 };
}

/** Whether `reply` answers `q`: same id and, ignoring ASCII case (0x20 randomisation), the same question. */
export function answersQuery(reply: Buffer, q: Query): boolean {
  const h = replyHeader(reply);
  if (h === undefined || h.id !== q.id) return false;
  if (reply.readUInt16BE(4) === 0) return h.rcode !== Rcode.NoError; // some servers drop the question on errors
  const end = questionEnd(reply, HEADER);
  if (end === undefined) return false;
  return reply.subarray(HEADER, end).toString('latin1').toLowerCase() === q.question.toString('latin1').toLowerCase();
}

/**
 * The address a reverse-lookup name stands for: "4.3.2.1.in-addr.arpa" → "1.2.3.4", 32 nibbles
 * under ip6.arpa → a compressed IPv6 address. Undefined for anything else (partial zones too).
 */
export function reverseAddress(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = nibbles.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    // The URL parser gives the canonical (RFC 5952) compressed form.
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  return undefined;
}

/** Shuffles in place (Fisher–Yates): Docker answers several addresses in random order to spread load. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}
