import test from 'ava';
import { isInvalidArgument } from '@shoal/api';
import { envAlias, linkEnv } from './links.js';

test('the Docker docs example: --link db:db to a container exposing 5432', (t) => {
  t.deepEqual(linkEnv({ alias: 'db', name: '/db', containerName: '/web2', ip: '172.17.0.5', exposed: ['5432/tcp'], env: [] }), [
    'DB_PORT=tcp://172.17.0.5:5432',
    'DB_PORT_5432_TCP=tcp://172.17.0.5:5432',
    'DB_PORT_5432_TCP_ADDR=172.17.0.5',
    'DB_PORT_5432_TCP_PORT=5432',
    'DB_PORT_5432_TCP_PROTO=tcp',
    'DB_NAME=/web2/db',
  ]);
});

test('ALIAS_PORT is the lowest TCP port; ports are listed TCP first', (t) => {
  const env = linkEnv({ alias: 'svc', name: '/s', containerName: 'me', ip: '10.0.0.2', exposed: ['53/udp', '8080/tcp', '443', '80/tcp'], env: [] });
  t.is(env[0], 'SVC_PORT=tcp://10.0.0.2:80');
  const order = env.filter((e) => /^SVC_PORT_\d+_[A-Z]+=/.test(e)).map((e) => e.split('=')[0]);
  t.deepEqual(order, ['SVC_PORT_80_TCP', 'SVC_PORT_443_TCP', 'SVC_PORT_8080_TCP', 'SVC_PORT_53_UDP']);
  t.true(env.includes('SVC_PORT_53_UDP=udp://10.0.0.2:53'));
  t.true(env.includes('SVC_PORT_53_UDP_PROTO=udp'));
});

test('consecutive ports also get _START and _END variables', (t) => {
  const env = linkEnv({ alias: 'r', name: '/r', containerName: 'me', ip: '10.0.0.2', exposed: ['8000-8002/tcp', '9000/tcp', '9001/udp'], env: [] });
  t.true(env.includes('R_PORT_8000_TCP_START=tcp://10.0.0.2:8000'));
  t.true(env.includes('R_PORT_8000_TCP_PORT_START=8000'));
  t.true(env.includes('R_PORT_8000_TCP_END=tcp://10.0.0.2:8002'));
  t.true(env.includes('R_PORT_8000_TCP_PORT_END=8002'));
  t.true(env.includes('R_PORT_8001_TCP=tcp://10.0.0.2:8001'));
  t.false(env.some((e) => e.startsWith('R_PORT_9000_TCP_START')), 'a single port is not a range');
  t.false(env.some((e) => e.startsWith('R_PORT_9001_UDP_START')), 'a different protocol breaks a range');
  t.is(env.filter((e) => e.includes('_PORT_START=')).length, 1, 'one range');
});

test("the target's environment is passed on as ALIAS_ENV_ except HOME, PATH and HOSTNAME", (t) => {
  const env = linkEnv({
    alias: 'db',
    name: '/pg',
    containerName: '/app',
    ip: '10.0.0.2',
    exposed: [],
    env: ['PATH=/usr/bin', 'HOME=/root', 'HOSTNAME=abc', 'POSTGRES_PASSWORD=secret', 'EMPTY=', 'A=b=c', 'NOVALUE'],
  });
  t.deepEqual(env, ['DB_NAME=/app/db', 'DB_ENV_POSTGRES_PASSWORD=secret', 'DB_ENV_EMPTY=', 'DB_ENV_A=b=c']);
});

test('the alias is upper-cased with other characters turned into _', (t) => {
  t.is(envAlias('my-db.v2'), 'MY_DB_V2');
  const env = linkEnv({ alias: 'my-db', name: '/x', containerName: 'me', ip: '10.0.0.2', exposed: ['6379'], env: [] });
  t.is(env[0], 'MY_DB_PORT=tcp://10.0.0.2:6379');
  t.true(env.includes('MY_DB_NAME=/me/my-db'));
});

test('a malformed exposed port is refused', (t) => {
  const err = t.throws(() => linkEnv({ alias: 'a', name: '/a', containerName: 'b', ip: '10.0.0.2', exposed: ['http'], env: [] }));
  t.true(isInvalidArgument(err));
  t.regex(err.message, /Invalid exposed port "http"/);
});
