import test from 'ava';
import { toOciResources, parseCpuList, type ResourcesInput, type ResourcesOptions } from './resources.js';

const MB = 1024 * 1024;
const opts: ResourcesOptions = { availableCpus: '0-1', swapSupported: true };
const conv = (r: ResourcesInput, o: ResourcesOptions = {}) => toOciResources(r, { ...opts, ...o });

test('memory with default swap is twice the memory, as Docker', (t) => {
  t.deepEqual(conv({ memory: 64 * MB }).resources.memory, { limit: 64 * MB, swap: 128 * MB });
});

test('memory-swap -1 is unlimited, and a value must be at least the memory', (t) => {
  t.is(conv({ memory: 64 * MB, memorySwap: -1 }).resources.memory?.swap, -1);
  t.is(conv({ memory: 64 * MB, memorySwap: 64 * MB }).resources.memory?.swap, 64 * MB);
  t.throws(() => conv({ memory: 64 * MB, memorySwap: 32 * MB }), { message: /Minimum memoryswap limit should be larger than memory limit/ });
  t.throws(() => conv({ memorySwap: 64 * MB }), { message: /always set the Memory limit when using Memoryswap/ });
});

test('without swap accounting, swap is dropped with a warning', (t) => {
  const r = conv({ memory: 64 * MB, memorySwap: 128 * MB }, { swapSupported: false });
  t.deepEqual(r.resources.memory, { limit: 64 * MB });
  t.regex(r.warnings[0] ?? '', /swap limit/);
});

test('memory below 6MB and reservations above the limit are refused', (t) => {
  t.throws(() => conv({ memory: 1 * MB }), { message: /Minimum memory limit allowed is 6MB/ });
  t.throws(() => conv({ memory: 64 * MB, memoryReservation: 128 * MB }), { message: /memory reservation/ });
  t.is(conv({ memoryReservation: 32 * MB }).resources.memory?.reservation, 32 * MB);
});

test('--cpus becomes a CFS quota over a 100ms period and is bounded by the host CPUs', (t) => {
  t.deepEqual(conv({ nanoCpus: 1_500_000_000 }).resources.cpu, { period: 100000, quota: 150000 });
  t.throws(() => conv({ nanoCpus: 3e9 }), { message: 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available; lower --cpus.' });
  t.throws(() => conv({ nanoCpus: 1e9, cpuPeriod: 50000 }), { message: /Conflicting options/ });
  t.throws(() => conv({ nanoCpus: -1 }), { message: /--cpus/ });
});

test('cpu shares are clamped with a warning; period and quota are checked', (t) => {
  const r = conv({ cpuShares: 1 });
  t.is(r.resources.cpu?.shares, 2);
  t.is(r.warnings.length, 1);
  t.is(conv({ cpuShares: 512 }).resources.cpu?.shares, 512);
  t.throws(() => conv({ cpuPeriod: 10 }), { message: /CPU cfs period/ });
  t.throws(() => conv({ cpuQuota: 10 }), { message: /CPU cfs quota/ });
});

test('cpuset must name available CPUs', (t) => {
  t.is(conv({ cpusetCpus: '0,1' }).resources.cpu?.cpus, '0,1');
  t.throws(() => conv({ cpusetCpus: '0-7' }), { message: 'Requested CPUs are not available - requested 0-7, available: 0-1.' });
  t.throws(() => conv({ cpusetCpus: 'x' }), { message: /invalid value for --cpuset-cpus/ });
  t.deepEqual(parseCpuList('0-2,4,4'), [0, 1, 2, 4]);
});

test('pids limit: positive limits, non-positive is unlimited (only sent when asked)', (t) => {
  t.deepEqual(conv({ pidsLimit: 10 }).resources.pids, { limit: 10 });
  t.deepEqual(conv({ pidsLimit: -1 }).resources.pids, { limit: -1 });
  t.is(conv({}).resources.pids, undefined);
  t.deepEqual(conv({}).resources, {});
});

test('partial conversion for update does not invent swap', (t) => {
  t.deepEqual(conv({ memory: 64 * MB }, { partial: true }).resources.memory, { limit: 64 * MB });
  t.deepEqual(conv({ blkioWeight: 500 }).resources.blockIO, { weight: 500 });
  t.throws(() => conv({ blkioWeight: 5 }), { message: /blkio weight/ });
});
