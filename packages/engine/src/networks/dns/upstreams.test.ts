import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInvalidArgument } from '@shoal/api';
import { daemonUpstreams, formatUpstream, hostUpstreams, parseUpstream } from './upstreams.js';

test('upstreams parse as ip, ip:port, [ipv6] and [ipv6]:port', (t) => {
  t.deepEqual(parseUpstream('10.0.0.2'), { host: '10.0.0.2', port: 53 });
  t.deepEqual(parseUpstream('10.0.0.2:5353'), { host: '10.0.0.2', port: 5353 });
  t.deepEqual(parseUpstream('2001:db8::53'), { host: '2001:db8::53', port: 53 });
  t.deepEqual(parseUpstream('[2001:db8::53]:5300'), { host: '2001:db8::53', port: 5300 });
  t.is(formatUpstream(parseUpstream('[2001:db8::53]')), '[2001:db8::53]:53');
  for (const bad of ['dns.example', '10.0.0.2:0', '10.0.0.2:70000', '10.0.0.2:x', '']) {
    const err = t.throws(() => parseUpstream(bad), undefined, bad);
    t.true(isInvalidArgument(err));
  }
});

test('host upstreams skip loopback servers', (t) => {
  t.deepEqual(hostUpstreams('nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::1\n'), ['10.0.0.2', '2001:db8::1']);
});

async function withResolvConf(t: ExecutionContext, text: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-dns-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'resolv.conf');
  if (text !== undefined) await writeFile(path, text);
  return path;
}

test('SHOAL_DNS_UPSTREAMS overrides the resolv.conf servers', async (t) => {
  const path = await withResolvConf(t, 'nameserver 10.0.0.2\n');
  t.deepEqual(await daemonUpstreams({ env: { SHOAL_DNS_UPSTREAMS: '127.0.0.1:5353, 10.9.9.9' }, resolvConfPath: path }), ['127.0.0.1:5353', '10.9.9.9']);
  t.deepEqual(await daemonUpstreams({ env: {}, resolvConfPath: path }), ['10.0.0.2']);
  await t.throwsAsync(daemonUpstreams({ env: { SHOAL_DNS_UPSTREAMS: 'resolver.example' }, resolvConfPath: path }), { message: /Invalid DNS server/ });
});

test('a host with only a local resolver keeps it (the forwarder runs in the daemon namespace); none at all falls back to 8.8.8.8', async (t) => {
  t.deepEqual(await daemonUpstreams({ env: {}, resolvConfPath: await withResolvConf(t, 'nameserver 127.0.0.53\n') }), ['127.0.0.53']);
  t.deepEqual(await daemonUpstreams({ env: {}, resolvConfPath: await withResolvConf(t, undefined) }), ['8.8.8.8', '8.8.4.4']);
});
