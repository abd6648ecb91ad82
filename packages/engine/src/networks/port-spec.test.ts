import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import { candidatePorts, clashes, EPHEMERAL_FIRST, EPHEMERAL_LAST, exposedPorts, formatPorts, inspectPorts, wantedPorts } from './port-spec.js';

const b = (container_port: number, host_port = '', protocol = 'tcp', host_ip = '') => ({ container_port, host_port, protocol, host_ip });

test('exposed ports merge the image, --expose and -p, sorted', (t) => {
  t.deepEqual(exposedPorts(['80/tcp'], ['53/udp', '80/tcp'], [b(443, '8443')]), ['53/udp', '80/tcp', '443/tcp']);
});

test('-P publishes every exposed port not already bound, on random ports', (t) => {
  const w = wantedPorts([b(80, '8080')], true, ['53/udp', '80/tcp', '443/tcp']);
  t.deepEqual(w, [
    { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: '8080' },
    { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: '' },
    { containerPort: 443, protocol: 'tcp', hostIp: '', hostPort: '' },
  ]);
});

test('bad ports and protocols are refused', (t) => {
  t.true(isInvalidArgument(t.throws(() => wantedPorts([b(70000)], false, []))));
  t.true(isInvalidArgument(t.throws(() => wantedPorts([b(80, '99999')], false, []))));
  t.regex(t.throws(() => wantedPorts([b(80, '', 'sctp')], false, [])).message, /sctp ports is not supported/);
  t.true(isInvalidArgument(t.throws(() => wantedPorts([b(80, '9000-8000')], false, []))));
});

test('random host ports come from the ephemeral range, starting where asked and wrapping', (t) => {
  const c = candidatePorts({ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: '' }, EPHEMERAL_LAST);
  t.is(c[0], EPHEMERAL_LAST);
  t.is(c[1], EPHEMERAL_FIRST);
  t.is(c.length, EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
  t.deepEqual(candidatePorts({ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: '8000-8002' }, 0), [8000, 8001, 8002]);
});

test('listeners clash on the same port and protocol when one address covers the other', (t) => {
  const m = (hostIp: string, hostPort = 80, protocol = 'tcp') => ({ hostIp, hostPort, protocol });
  t.true(clashes(m(''), m('127.0.0.1')));
  t.false(clashes(m('10.0.0.1'), m('127.0.0.1')));
  t.false(clashes(m(''), m('', 80, 'udp')));
  t.false(clashes(m(''), m('', 81)));
});

test('ps and inspect show ports the way docker does', (t) => {
  const maps = [
    { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 },
    { containerPort: 81, protocol: 'tcp', hostIp: '', hostPort: 8081 },
    { containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353 },
  ];
  t.is(formatPorts(['53/udp', '80/tcp', '81/tcp', '443/tcp'], maps), '443/tcp, 0.0.0.0:8080-8081->80-81/tcp, 127.0.0.1:5353->53/udp');
  t.deepEqual(inspectPorts(['443/tcp'], maps.slice(0, 1)), { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '443/tcp': null });
});
