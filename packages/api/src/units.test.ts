import test from 'ava';
import { ErrorCode, errorCode } from './errors.js';
import { parseBytes, parseCpus, parseMemorySwap, parseSignal, parseUlimit, signalName } from './units.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return errorCode(err);
  }
};

test('parseBytes reads docker sizes with binary units, case-insensitively', (t) => {
  t.is(parseBytes('1024'), 1024);
  t.is(parseBytes('512m'), 512 * 1024 * 1024);
  t.is(parseBytes('512MB'), 512 * 1024 * 1024);
  t.is(parseBytes('2GiB'), 2 * 1024 ** 3);
  t.is(parseBytes('1.5g'), 1.5 * 1024 ** 3);
  t.is(parseBytes('10k'), 10240);
  t.is(parseBytes('7b'), 7);
});

test('parseBytes refuses what is not a size, naming the value', (t) => {
  t.throws(() => parseBytes('12q'), { message: /^invalid size: '12q'/ });
  t.is(code(() => parseBytes('12q')), ErrorCode.InvalidArgument);
  t.is(code(() => parseBytes('-1')), ErrorCode.InvalidArgument);
  t.is(code(() => parseBytes('')), ErrorCode.InvalidArgument);
  t.is(code(() => parseBytes('m')), ErrorCode.InvalidArgument);
});

test('parseMemorySwap accepts -1 for unlimited', (t) => {
  t.is(parseMemorySwap('-1'), -1);
  t.is(parseMemorySwap('1g'), 1024 ** 3);
});

test('parseCpus turns CPUs into nano-CPUs and refuses negatives', (t) => {
  t.is(parseCpus('1.5'), 1_500_000_000);
  t.is(parseCpus('0.01'), 10_000_000);
  t.is(parseCpus('2'), 2_000_000_000);
  t.is(code(() => parseCpus('-1')), ErrorCode.InvalidArgument);
  t.is(code(() => parseCpus('abc')), ErrorCode.InvalidArgument);
  t.throws(() => parseCpus('0.0000000001'), { message: /too precise/ });
});

test('parseUlimit reads name=soft[:hard]', (t) => {
  t.deepEqual(parseUlimit('nofile=1024:2048'), { name: 'nofile', soft: 1024, hard: 2048 });
  t.deepEqual(parseUlimit('nproc=64'), { name: 'nproc', soft: 64, hard: 64 });
  t.deepEqual(parseUlimit('core=-1'), { name: 'core', soft: -1, hard: -1 });
  t.throws(() => parseUlimit('bogus=1'), { message: /^invalid ulimit type: bogus/ });
  t.throws(() => parseUlimit('nofile=2048:1024'), { message: /soft limit 2048 is above the hard limit 1024/ });
  t.is(code(() => parseUlimit('nofile')), ErrorCode.InvalidArgument);
  t.is(code(() => parseUlimit('nofile=x')), ErrorCode.InvalidArgument);
});

test('parseSignal accepts names with or without SIG, and numbers; signalName goes back', (t) => {
  t.is(parseSignal('SIGTERM'), 15);
  t.is(parseSignal('term'), 15);
  t.is(parseSignal('KILL'), 9);
  t.is(parseSignal('15'), 15);
  t.is(parseSignal('SIGRTMIN+2'), 36);
  t.is(signalName(15), 'SIGTERM');
  t.is(signalName(6), 'SIGABRT');
  t.is(signalName(36), 'SIGRTMIN+2');
  t.throws(() => parseSignal('SIGFOO'), { message: /^invalid signal: SIGFOO/ });
  t.is(code(() => parseSignal('0')), ErrorCode.InvalidArgument);
  t.is(code(() => parseSignal('65')), ErrorCode.InvalidArgument);
});
