// Store updates per second through a 3-member Raft with real fsync (every
// member persists each batch with fdatasync in its temp data directory).
// Figures go to t.log; the assertions check that the run was correct.
import test from 'ava';
import { service } from '../store/test-fixtures.js';
import { TestCluster, sameBytes } from './test-cluster.js';

const RUN_MS = 1_500;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

test.serial('store updates through 3-member Raft with fsync: every member ends with the same store', async (t) => {
  const c = await TestCluster.start();
  t.teardown(() => c.destroy());
  const leader = await c.leader();

  // One update at a time: the store serialises updates, so this is the rate one writer sees.
  const lat: number[] = [];
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < RUN_MS) {
    const t0 = performance.now();
    await leader.store.update((tx) => void tx.services.create(service(`u${n}`, `update-${n}`)));
    lat.push(performance.now() - t0);
    n++;
  }
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  t.log(
    `sequential store.update: ${n} updates in ${secs.toFixed(2)} s = ${Math.round(n / secs)} updates/s, p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms`,
  );

  // Many writers at once: they queue on the store's lock; each still waits for its own commit.
  const writers = 64;
  let done = 0;
  const c0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, (_, w) =>
      (async () => {
        for (let i = 0; performance.now() - c0 < RUN_MS; i++) {
          await leader.store.update((tx) => void tx.services.create(service(`w${w}-${i}`, `writer-${w}-${i}`)));
          done++;
        }
      })(),
    ),
  );
  const cSecs = (performance.now() - c0) / 1000;
  t.log(`${writers} concurrent writers: ${done} updates in ${cSecs.toFixed(2)} s = ${Math.round(done / cSecs)} updates/s`);

  // Large changes: store.batch packs up to 200 changes in one entry.
  const changes = 2_000;
  const b0 = performance.now();
  const res = await leader.store.batch((b) => {
    for (let i = 0; i < changes; i++) b.update((tx) => void tx.services.create(service(`b${i}`, `batch-${i}`)));
  });
  const bSecs = (performance.now() - b0) / 1000;
  t.log(`store.batch: ${changes} changes in ${res.proposals} entries in ${bSecs.toFixed(2)} s = ${Math.round(changes / bSecs)} changes/s`);
  t.is(res.succeeded, changes);

  const total = n + done + changes;
  t.is(leader.store.view((tx) => tx.services.find().length), total);
  await c.converge(leader.status().applied, 10_000);
  for (const m of c.followers(leader)) t.true(sameBytes(m.store.save(), leader.store.save()), `${m.id} matches the leader`);
});
