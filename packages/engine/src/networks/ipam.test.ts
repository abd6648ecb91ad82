import test from 'ava';
import { isConflict, isInvalidArgument, isUnavailable } from '@shoal/api';
import { parseCidr } from './cidr.js';
import { allocateAddress, allocateSubnet, DEFAULT_POOLS, macFor, parseAddressPool, resolveIpam } from './ipam.js';

const taken = (...cidrs: string[]) => cidrs.map((c) => ({ cidr: parseCidr(c), what: `network ${c}` }));

test('the first networks get docker default subnets in order', (t) => {
  t.is(resolveIpam({}, DEFAULT_POOLS, []).Subnet, '172.17.0.0/16');
  t.deepEqual(resolveIpam({}, DEFAULT_POOLS, taken('172.17.0.0/16')), { Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' });
});

test('a subnet that overlaps a host route is skipped when choosing, refused when given', (t) => {
  const routes = taken('172.17.0.0/16', '172.18.5.0/24');
  t.is(resolveIpam({}, DEFAULT_POOLS, routes).Subnet, '172.19.0.0/16');
  const err = t.throws(() => resolveIpam({ subnet: '172.18.0.0/16' }, DEFAULT_POOLS, routes));
  t.true(isConflict(err));
  t.regex(err.message, /Pool overlaps with other one on this address space/);
});

test('--default-address-pool carves subnets of the given size', (t) => {
  const pool = parseAddressPool('base=10.10.0.0/16,size=24');
  t.deepEqual(pool, { base: '10.10.0.0/16', size: 24 });
  t.is(formatFirst(allocateSubnet([pool], taken('10.10.0.0/24'))), '10.10.1.0/24');
  t.throws(() => parseAddressPool('base=10.10.0.0/16'), { message: /base=10.10.0.0\/16,size=24/ });
  t.throws(() => parseAddressPool('base=10.10.0.0/16,size=8'), { message: /size must be between/ });
});

function formatFirst(c: { base: number; prefix: number }): string {
  return `${[c.base >>> 24, (c.base >>> 16) & 255, (c.base >>> 8) & 255, c.base & 255].join('.')}/${c.prefix}`;
}

test('exhausted pools say so', (t) => {
  const err = t.throws(() => allocateSubnet([{ base: '10.0.0.0/23', size: 24 }], taken('10.0.0.0/23')));
  t.true(isUnavailable(err));
});

test('a subnet with host bits, a gateway outside it and a range outside it are refused', (t) => {
  t.true(isInvalidArgument(t.throws(() => resolveIpam({ subnet: '10.1.0.1/16' }, DEFAULT_POOLS, []))));
  t.regex(t.throws(() => resolveIpam({ subnet: '10.1.0.0/16', gateway: '10.2.0.1' }, DEFAULT_POOLS, [])).message, /not a usable address/);
  t.regex(t.throws(() => resolveIpam({ subnet: '10.1.0.0/16', ipRange: '10.2.0.0/24' }, DEFAULT_POOLS, [])).message, /not inside the subnet/);
  t.deepEqual(resolveIpam({ subnet: '10.1.0.0/16', gateway: '10.1.0.254', ipRange: '10.1.5.0/24' }, DEFAULT_POOLS, []), {
    Subnet: '10.1.0.0/16',
    Gateway: '10.1.0.254',
    IPRange: '10.1.5.0/24',
  });
});

test('addresses: lowest free, skipping network, gateway and those in use; --ip is checked', (t) => {
  const cfg = { Subnet: '10.1.0.0/24', Gateway: '10.1.0.1' };
  t.is(allocateAddress(cfg, new Set()), '10.1.0.2');
  t.is(allocateAddress(cfg, new Set(['10.1.0.2', '10.1.0.3'])), '10.1.0.4');
  t.is(allocateAddress(cfg, new Set(), '10.1.0.77'), '10.1.0.77');
  t.true(isConflict(t.throws(() => allocateAddress(cfg, new Set(['10.1.0.77']), '10.1.0.77'))));
  t.true(isConflict(t.throws(() => allocateAddress(cfg, new Set(), '10.1.0.1'))));
  t.true(isInvalidArgument(t.throws(() => allocateAddress(cfg, new Set(), '10.2.0.5'))));
  t.is(allocateAddress({ ...cfg, IPRange: '10.1.0.128/25' }, new Set()), '10.1.0.128');
});

test('a full subnet is reported', (t) => {
  const cfg = { Subnet: '10.1.0.0/30', Gateway: '10.1.0.1' };
  t.is(allocateAddress(cfg, new Set()), '10.1.0.2');
  t.true(isUnavailable(t.throws(() => allocateAddress(cfg, new Set(['10.1.0.2'])))));
});

test('MAC addresses follow docker: 02:42 and the address bytes', (t) => {
  t.is(macFor('172.17.0.2'), '02:42:ac:11:00:02');
});
