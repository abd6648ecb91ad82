import test, { type ExecutionContext } from 'ava';
import { newMessage } from '../core/raft-core.js';
import type { Message } from '../core/types.js';
import { MessageType } from '../core/types.js';
import { GrpcTransport } from './grpc-transport.js';
import { freePort } from './test-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function app(from: string, to: string, index: number, data = 'x'): Message {
  return newMessage({
    type: MessageType.App,
    from,
    to,
    term: 3,
    index,
    entries: [{ term: 3, index: index + 1, type: 0, data: new TextEncoder().encode(data) }],
  });
}

async function pair(t: ExecutionContext) {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = new GrpcTransport({ id: 'a', listen: `127.0.0.1:${pa}`, backoffInitialMs: 20, backoffMaxMs: 100 });
  const b = new GrpcTransport({ id: 'b', listen: `127.0.0.1:${pb}`, backoffInitialMs: 20, backoffMaxMs: 100 });
  const got = { a: [] as Message[], b: [] as Message[] };
  await a.start((ms) => got.a.push(...ms));
  await b.start((ms) => got.b.push(...ms));
  a.addPeer('b', `127.0.0.1:${pb}`);
  b.addPeer('a', `127.0.0.1:${pa}`);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  return { a, b, got, pa, pb };
}

test('messages reach the peer in order over one stream, byte for byte', async (t) => {
  const { a, got } = await pair(t);
  for (let i = 0; i < 500; i++) a.send([app('a', 'b', i, `d${i}`)]);
  await until('500 messages', () => got.b.length === 500);
  t.deepEqual(
    got.b.map((m) => m.index),
    Array.from({ length: 500 }, (_, i) => i),
  );
  t.is(new TextDecoder().decode(got.b[499]!.entries[0]!.data), 'd499');
  t.is(got.b[0]!.term, 3);
});

test('a send to a peer that is down is reported as Unreachable, and delivery resumes when it is back', async (t) => {
  const { a, b, got, pb } = await pair(t);
  a.send([app('a', 'b', 1)]);
  await until('first message', () => got.b.length === 1);
  await b.stop();
  a.send([app('a', 'b', 2)]);
  await until('unreachable report', () => got.a.some((m) => m.type === MessageType.Unreachable && m.from === 'b'));
  const b2 = new GrpcTransport({ id: 'b', listen: `127.0.0.1:${pb}` });
  const got2: Message[] = [];
  await b2.start((ms) => got2.push(...ms));
  t.teardown(() => b2.stop());
  // The leader keeps sending (heartbeats); the link reconnects with backoff.
  await until('delivery after restart', () => {
    a.send([app('a', 'b', 3)]);
    return got2.some((m) => m.index === 3);
  });
  t.pass();
});

test('a snapshot is sent as one call and its delivery is reported as SnapStatus', async (t) => {
  const { a, got } = await pair(t);
  const data = new Uint8Array(3 * 1024 * 1024).fill(7);
  a.send([
    newMessage({
      type: MessageType.Snap,
      from: 'a',
      to: 'b',
      term: 2,
      snapshot: { metadata: { index: 100, term: 2, confState: { voters: ['a', 'b'], learners: [] } }, data },
    }),
  ]);
  await until('snapshot delivered', () => got.b.length === 1);
  t.is(got.b[0]!.snapshot?.data.length, data.length);
  t.deepEqual(got.b[0]!.snapshot?.metadata.confState.voters, ['a', 'b']);
  await until('status', () => got.a.some((m) => m.type === MessageType.SnapStatus));
  t.false(got.a.find((m) => m.type === MessageType.SnapStatus)!.reject);
});

test('messages addressed to another member are not delivered', async (t) => {
  const { a, got, pb } = await pair(t);
  // A stale address book: "c" now points at b's port.
  a.addPeer('c', `127.0.0.1:${pb}`);
  a.send([app('a', 'c', 1)]);
  await sleep(100);
  a.send([app('a', 'b', 2)]);
  await until('the message for b', () => got.b.length > 0);
  t.deepEqual(got.b.map((m) => m.to), ['b']);
});

test('new client credentials (a renewed certificate) replace every link, and delivery goes on', async (t) => {
  const { a, got } = await pair(t);
  a.send([app('a', 'b', 1)]);
  await until('first message', () => got.b.length === 1);
  const { credentials } = await import('@grpc/grpc-js');
  a.setClientCredentials(credentials.createInsecure());
  for (let i = 2; i <= 50; i++) a.send([app('a', 'b', i)]);
  await until('every message after the swap', () => got.b.some((m) => m.index === 50));
  t.true(got.b.filter((m) => m.index >= 2).length >= 40);
});

test('the authorize hook refuses calls before they are served', async (t) => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = new GrpcTransport({ id: 'a', listen: `127.0.0.1:${pa}`, backoffInitialMs: 20, backoffMaxMs: 100 });
  const refused: string[] = [];
  const b = new GrpcTransport({
    id: 'b',
    listen: `127.0.0.1:${pb}`,
    authorize: () => {
      refused.push('call');
      return { code: 7, details: 'not a manager', metadata: undefined as never, name: 'Error', message: 'not a manager' };
    },
  });
  const got: Message[] = [];
  await a.start(() => undefined);
  await b.start((ms) => got.push(...ms));
  a.addPeer('b', `127.0.0.1:${pb}`);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  a.send([app('a', 'b', 1)]);
  await until('a refused call', () => refused.length > 0);
  await sleep(100);
  t.is(got.length, 0);
});
