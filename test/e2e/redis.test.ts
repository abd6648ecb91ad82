// The real-workload test of issue 3: Debian's redis-server packaged as an
// image (scripts/build-images.sh), published on the daemon host's port 6379
// with its data in a named volume, driven by the real ioredis client.
import test from 'ava';
import { Redis } from 'ioredis';
import { eventually, REDIS_TAR, withDaemon, type Daemon } from './harness.js';

const REDIS_IMPORT = [
  'import',
  '--change',
  'CMD ["redis-server","--protected-mode","no"]',
  '--change',
  'VOLUME /data',
  '--change',
  'WORKDIR /data',
  '--change',
  'EXPOSE 6379',
  REDIS_TAR,
  'redis:7',
];

async function client(t: Parameters<Daemon['tunnel']>[0], d: Daemon): Promise<Redis> {
  const path = await d.tunnel(t, 6379);
  const r = new Redis({ path, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  // redis needs a moment to load its data and listen.
  const up = await eventually(async () => {
    try {
      if (r.status !== 'ready') {
        r.disconnect();
        await r.connect();
      }
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    }
  }, 20_000, 200);
  if (!up) throw new Error(`redis did not answer through the published port; logs:\n${await d.ok(['logs', 'redis']).catch((e: Error) => e.message)}`);
  return r;
}

test('redis on a published port keeps its data in a named volume across container replacement', async (t) => {
  const d = await withDaemon(t);
  await d.ok(REDIS_IMPORT);
  t.is((await d.ok(['volume', 'create', 'redis-data'])).trim(), 'redis-data');
  await d.ok(['run', '-d', '--name', 'redis', '-p', '6379:6379', '-v', 'redis-data:/data', 'redis:7']);
  t.regex(await d.ok(['port', 'redis']), /^6379\/tcp -> 0\.0\.0\.0:6379$/m);

  const first = await client(t, d);
  t.is(await first.set('greeting', 'hello from ioredis'), 'OK');
  await first.rpush('list', 'a', 'b', 'c');
  t.is(await first.get('greeting'), 'hello from ioredis');
  first.disconnect();

  // `stop` sends SIGTERM: redis saves its RDB file into /data on shutdown.
  await d.ok(['stop', 'redis']);
  await d.ok(['rm', 'redis']);
  const mountpoint = (await d.ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'redis-data'])).trim();
  t.truthy(mountpoint);

  await d.ok(['run', '-d', '--name', 'redis', '-p', '6379:6379', '-v', 'redis-data:/data', 'redis:7']);
  const second = await client(t, d);
  t.is(await second.get('greeting'), 'hello from ioredis');
  t.deepEqual(await second.lrange('list', 0, -1), ['a', 'b', 'c']);
  second.disconnect();

  // The named volume outlives the container; the anonymous one the image's VOLUME asked for is not created (the named one is there).
  await d.ok(['rm', '-f', '-v', 'redis']);
  t.regex(await d.ok(['volume', 'ls', '-q']), /^redis-data$/m);
});
