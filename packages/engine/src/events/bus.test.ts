import test from 'ava';
import { EventBus, compileFilters } from './bus.js';

test('events --since replays history in order and --until ends the stream', async (t) => {
  const bus = new EventBus();
  const since = BigInt(Date.now()) * 1_000_000n - 1n;
  bus.publish('container', 'create', 'a', { name: 'x' });
  bus.publish('container', 'start', 'a', { name: 'x' });
  bus.publish('image', 'tag', 'sha256:1', { name: 'busybox:latest' });
  const until = BigInt(Date.now()) * 1_000_000n + 1_000_000_000n;
  const seen: string[] = [];
  for await (const e of bus.subscribe({ since, until, filters: [{ key: 'type', value: 'container' }] }, new AbortController().signal)) {
    seen.push(e.action);
    if (seen.length === 2) break;
  }
  t.deepEqual(seen, ['create', 'start']);
});

test('live events reach a subscriber until its signal aborts', async (t) => {
  const bus = new EventBus();
  const ctl = new AbortController();
  const got: string[] = [];
  const done = (async () => {
    for await (const e of bus.subscribe({}, ctl.signal)) {
      got.push(`${e.type} ${e.action}`);
      if (got.length === 2) ctl.abort();
    }
  })();
  await new Promise((r) => setImmediate(r));
  bus.publish('container', 'die', 'a');
  bus.publish('image', 'delete', 'b');
  await done;
  t.deepEqual(got, ['container die', 'image delete']);
});

test('filters: repeated keys OR, different keys AND, labels by key or key=value', (t) => {
  const m = compileFilters([
    { key: 'event', value: 'start' },
    { key: 'event', value: 'die' },
    { key: 'label', value: 'tier=web' },
  ]);
  const ev = (action: string, attributes: Record<string, string>) => ({ type: 'container' as const, action, id: 'x', attributes, timeNano: 1n });
  t.true(m(ev('start', { tier: 'web' })));
  t.true(m(ev('die', { tier: 'web' })));
  t.false(m(ev('create', { tier: 'web' })));
  t.false(m(ev('start', { tier: 'db' })));
});
