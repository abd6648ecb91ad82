import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import { containerHosts } from './hosts-file.js';

const HEAD = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

test('a plain container gets the localhost lines and its own address last', (t) => {
  t.is(containerHosts({ hostname: 'a1b2c3d4e5f6', addresses: ['172.17.0.2'], extraHosts: [], links: [] }), `${HEAD}172.17.0.2\ta1b2c3d4e5f6\n`);
});

test('--network none has no address line', (t) => {
  t.is(containerHosts({ hostname: 'a1b2c3d4e5f6', addresses: [], extraHosts: [], links: [] }), HEAD);
});

test('add-host lines, then link lines, then one line per address, in Docker order', (t) => {
  const out = containerHosts({
    hostname: 'app',
    domainname: 'example.com',
    addresses: ['172.17.0.4', '172.20.0.3'],
    extraHosts: ['db.local:10.0.0.9', 'v6host:2001:db8::1'],
    links: [
      { alias: 'db', name: '/postgres', hostname: '0123456789ab', ip: '172.17.0.2' },
      { alias: 'web', name: '/web', hostname: 'ba9876543210', ip: '172.17.0.3' },
    ],
  });
  t.is(
    out,
    `${HEAD}10.0.0.9\tdb.local
2001:db8::1\tv6host
172.17.0.2\tdb 0123456789ab postgres
172.17.0.3\tweb ba9876543210
172.17.0.4\tapp.example.com app
172.20.0.3\tapp.example.com app
`,
  );
});

test('a hostname that is already a FQDN also lists the short name', (t) => {
  t.regex(containerHosts({ hostname: 'web.corp.example', addresses: ['10.1.0.2'], extraHosts: [], links: [] }), /^10\.1\.0\.2\tweb\.corp\.example web$/m);
});

test('host-gateway is replaced by the host gateway address, and refused without one', (t) => {
  const o = { hostname: 'x', addresses: [], extraHosts: ['host.docker.internal:host-gateway'], links: [] };
  t.regex(containerHosts({ ...o, hostGateway: '172.17.0.1' }), /^172\.17\.0\.1\thost\.docker\.internal$/m);
  const err = t.throws(() => containerHosts(o));
  t.true(isInvalidArgument(err));
  t.regex(err.message, /no host gateway address/);
});

test('an add-host value without ":" is refused', (t) => {
  const err = t.throws(() => containerHosts({ hostname: 'x', addresses: [], extraHosts: ['justaname'], links: [] }));
  t.true(isInvalidArgument(err));
  t.regex(err.message, /use host:ip/);
});
