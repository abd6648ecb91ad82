import test from 'ava';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { errorCode } from '@shoal/api';
import { Gauge, Registry } from 'prom-client';
import { parseListenAddress, startMetricsServer } from './server.js';

function registryWithGauge(): Registry {
  const registry = new Registry();
  new Gauge({ name: 'shoal_test_value', help: 'A test figure.', registers: [registry] }).set(7);
  return registry;
}

test('GET /metrics serves the registry in the Prometheus text format until the signal aborts', async (t) => {
  const ctl = new AbortController();
  const server = await startMetricsServer('127.0.0.1:0', registryWithGauge(), ctl.signal);
  t.regex(server.address, /^127\.0\.0\.1:\d+$/);
  const res = await fetch(`http://${server.address}/metrics`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const body = await res.text();
  t.regex(body, /# TYPE shoal_test_value gauge\nshoal_test_value 7\n/);

  ctl.abort();
  await server.closed;
  await t.throwsAsync(fetch(`http://${server.address}/metrics`), undefined, 'nothing listens after the abort');
});

test('other paths get 404 and other methods 405, each saying what to do', async (t) => {
  const ctl = new AbortController();
  t.teardown(() => ctl.abort());
  const server = await startMetricsServer('127.0.0.1:0', registryWithGauge(), ctl.signal);
  const notFound = await fetch(`http://${server.address}/`);
  t.is(notFound.status, 404);
  t.regex(await notFound.text(), /\/metrics/);
  const post = await fetch(`http://${server.address}/metrics`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  const withQuery = await fetch(`http://${server.address}/metrics?x=1`);
  t.is(withQuery.status, 200);
});

test('a collector that throws gives a 500 naming the failure, and the server keeps serving', async (t) => {
  const ctl = new AbortController();
  t.teardown(() => ctl.abort());
  const registry = new Registry();
  let fail = true;
  new Gauge({
    name: 'shoal_test_flaky',
    help: 'Fails once.',
    registers: [registry],
    collect() {
      if (fail) throw new Error('store is closed');
    },
  });
  const server = await startMetricsServer('127.0.0.1:0', registry, ctl.signal);
  const res = await fetch(`http://${server.address}/metrics`);
  t.is(res.status, 500);
  t.regex(await res.text(), /store is closed/);
  fail = false;
  t.is((await fetch(`http://${server.address}/metrics`)).status, 200);
});

test('an address in use is refused as Unavailable with a hint', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const err = await t.throwsAsync(startMetricsServer(`127.0.0.1:${port}`, new Registry(), new AbortController().signal));
  t.is(errorCode(err), 'Unavailable');
  t.regex(err?.message ?? '', /EADDRINUSE.*--metrics-addr/);
});

test('an aborted signal refuses to start', async (t) => {
  const ctl = new AbortController();
  ctl.abort();
  await t.throwsAsync(startMetricsServer('127.0.0.1:0', new Registry(), ctl.signal), { any: true, name: 'AbortError' });
});

test('listen addresses: host:port, [v6]:port and :port; anything else is InvalidArgument', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9323'), { host: '127.0.0.1', port: 9323 });
  t.deepEqual(parseListenAddress('[::1]:9323'), { host: '::1', port: 9323 });
  t.deepEqual(parseListenAddress(':9323'), { host: undefined, port: 9323 });
  t.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
  for (const bad of ['9323', '127.0.0.1', '127.0.0.1:99999', '::1:9323', 'host:port', '']) {
    const err = t.throws(() => parseListenAddress(bad), undefined, bad);
    t.is(errorCode(err), 'InvalidArgument', bad);
  }
});
