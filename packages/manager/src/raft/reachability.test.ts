import test from 'ava';
import { LocalNetwork, MessageType, newMessage } from '@shoal/raft';
import type { Message } from '@shoal/raft';
import { ReachabilityTransport } from './reachability.js';

test('a peer is reachable for the window after its last message and not after a failed send to it', async (t) => {
  let now = 1_000;
  const net = new LocalNetwork();
  const a = new ReachabilityTransport(net.transport('a'), { windowMs: 100, clock: () => now });
  const b = net.transport('b');
  const got: Message[][] = [];
  await a.start((msgs) => got.push(msgs));
  await b.start(() => undefined);
  b.addPeer('a', 'local:a');
  a.addPeer('b', 'local:b');
  t.false(a.reachable('b'), 'never heard from');

  b.send([newMessage({ type: MessageType.Heartbeat, from: 'b', to: 'a', term: 1 })]);
  await new Promise((r) => setImmediate(r));
  t.is(got.length, 1, 'messages are passed on');
  t.true(a.reachable('b'));
  now += 100;
  t.true(a.reachable('b'));
  now += 1;
  t.false(a.reachable('b'), 'silent for longer than the window');

  b.send([newMessage({ type: MessageType.Heartbeat, from: 'b', to: 'a', term: 1 })]);
  await new Promise((r) => setImmediate(r));
  t.true(a.reachable('b'));
  net.partition('a', 'b');
  a.send([newMessage({ type: MessageType.HeartbeatResp, from: 'a', to: 'b', term: 1 })]);
  await new Promise((r) => setImmediate(r));
  t.false(a.reachable('b'), 'the transport reported b unreachable');
  await a.stop();
  await b.stop();
});
