import test from 'ava';
import { bytesSize, ellipsis, goG, humanDuration, humanSize, rfc3339Nano, shortId, timeAgo } from './human.js';

test('sizes use decimal units with 3 significant digits like docker images', (t) => {
  t.is(humanSize(0), '0B');
  t.is(humanSize(999), '999B');
  t.is(humanSize(1200), '1.2kB');
  t.is(humanSize(4_261_234), '4.26MB');
  t.is(humanSize(1_000_000), '1MB');
  t.is(humanSize(123_456_789_012), '123GB');
  t.is(humanSize(999_500), '1e+03kB'); // Go's %.3g, faithfully
});

test('memory sizes use binary units like docker stats', (t) => {
  t.is(bytesSize(0), '0B');
  t.is(bytesSize(1536 * 1024), '1.5MiB');
  t.is(bytesSize(8 * 1024 ** 3), '8GiB');
});

test('goG follows Go %g', (t) => {
  t.is(goG(100, 3), '100');
  t.is(goG(0.5, 3), '0.5');
  t.is(goG(1234.5, 3), '1.23e+03');
});

test('durations read like docker', (t) => {
  t.is(humanDuration(500), 'Less than a second');
  t.is(humanDuration(1000), '1 second');
  t.is(humanDuration(45_000), '45 seconds');
  t.is(humanDuration(60_000), 'About a minute');
  t.is(humanDuration(2 * 60_000), '2 minutes');
  t.is(humanDuration(60 * 60_000), 'About an hour');
  t.is(humanDuration(5 * 3_600_000), '5 hours');
  t.is(humanDuration(3 * 86_400_000), '3 days');
  t.is(humanDuration(3 * 7 * 86_400_000), '3 weeks');
  t.is(humanDuration(90 * 86_400_000), '3 months');
  t.is(humanDuration(800 * 86_400_000), '2 years');
  t.is(timeAgo(1000, 1000 * 1000 + 120_000), '2 minutes ago');
});

test('ids, ellipsis and timestamps', (t) => {
  t.is(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
  t.is(shortId('0123456789abcdef'), '0123456789ab');
  t.is(ellipsis('sleep 1000000000000000', 20), 'sleep 1000000000000…');
  t.is(ellipsis('short', 20), 'short');
  t.is(rfc3339Nano('1795446000123456789'), '2026-11-23T15:00:00.123456789Z');
});
