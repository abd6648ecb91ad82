import { createConnection, createServer, type Server, type Socket } from 'node:net';
import test from 'ava';
import { LinkProxy } from './link-proxy.js';

async function echoServer(): Promise<{ server: Server; addr: string }> {
  const server = createServer((s) => {
    s.on('error', () => undefined); // the proxy resets it on a cut
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, addr: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
}

function connect(addr: string): Promise<Socket> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: host!, port: Number(port) }, () => {
      // A reset after connecting shows in roundTrip as a close.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends `msg` and resolves with the echo, or rejects when the connection breaks first. */
function roundTrip(s: Socket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.on('data', (b: Buffer) => {
      got += b.toString();
      if (got.length >= msg.length) resolve(got);
    });
    s.once('close', () => reject(new Error('closed')));
    s.once('error', reject);
    s.write(msg);
  });
}

test('a cut link resets open connections and refuses new ones until healed', async (t) => {
  const { server, addr } = await echoServer();
  const proxy = new LinkProxy({ target: addr, name: 'a->b' });
  await proxy.start();
  t.teardown(async () => {
    await proxy.close();
    server.close();
  });
  const s1 = await connect(proxy.addr);
  t.is(await roundTrip(s1, 'hello'), 'hello');
  const closed = new Promise((r) => s1.once('close', r));
  s1.on('error', () => undefined);
  proxy.cut();
  await closed;
  const s2 = await connect(proxy.addr).catch(() => undefined);
  if (s2) await t.throwsAsync(roundTrip(s2, 'x'));
  proxy.heal();
  const s3 = await connect(proxy.addr);
  t.is(await roundTrip(s3, 'again'), 'again');
  s3.destroy();
});

test('a delayed link holds bytes for the delay and keeps their order', async (t) => {
  const { server, addr } = await echoServer();
  const proxy = new LinkProxy({ target: addr });
  await proxy.start();
  t.teardown(async () => {
    await proxy.close();
    server.close();
  });
  proxy.setDelay(100);
  const s = await connect(proxy.addr);
  const start = performance.now();
  const echo = roundTrip(s, 'abcdef');
  s.write('');
  t.is(await echo, 'abcdef');
  // 100 ms each way.
  t.true(performance.now() - start >= 190, `round trip took ${performance.now() - start} ms`);
  s.destroy();
});
