// Five managers (each a real shoald on its own host): Raft tolerates two lost
// managers. kill -9 of two (three of five remain, a quorum): control calls work
// and a service scales; kill -9 of a third (two of five, no quorum): control
// calls fail fast with the clear "no quorum" error while the containers keep
// running; one manager restarted (three of five again): control works again.
import test from 'ava';
import type { Daemon } from './harness.js';
import { eventually, leaderOf, startSwarm, waitServiceRunning, type SwarmNode } from './swarm-harness.js';

/** Running container IDs of a service on one host. */
async function containerIds(d: Daemon, service: string): Promise<string[]> {
  const out = await d.ok(['ps', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`, '--format', '{{.ID}}']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .sort();
}

test('five managers: two lost keep a quorum; a third lost is a clear "no quorum"; one back restores control', async (t) => {
  t.timeout(180_000);
  const started = Date.now();
  const s = await startSwarm(t, { managers: 5 });
  t.log(`5-manager swarm formed in ${Date.now() - started} ms`);
  const leader = await s.leader();
  // A short grace period: busybox's sleep ignores SIGTERM.
  await leader.d.ok(['service', 'create', '--name', 'web', '--replicas', '5', '--stop-grace-period', '1s', '-d', 'busybox', 'sleep', '100000']);
  await waitServiceRunning(leader.d, 'web', 5, 45_000);

  // Kill two managers, the leader among them: the hardest case for the three left.
  const others = s.managers.filter((m) => m !== leader);
  const [a, b, c, d] = others as [SwarmNode, SwarmNode, SwarmNode, SwarmNode];
  const killed = Date.now();
  await Promise.all([leader.d.kill9(), a.d.kill9()]);
  const survivors = [b, c, d];
  const next = await leaderOf(survivors, 20_000);
  t.log(`two managers killed (leader ${leader.name} and ${a.name}) → new leader ${next.name} in ${Date.now() - killed} ms`);
  // Any survivor serves control calls (followers forward to the leader).
  const follower = survivors.find((m) => m !== next)!;
  let r = { code: 1, stdout: '', stderr: '' };
  t.true(
    await eventually(async () => {
      r = await follower.d.cli(['service', 'scale', '-d', 'web=8'], { timeoutMs: 20_000 });
      return r.code === 0;
    }, 20_000, 300),
    `scale through follower ${follower.name}: ${r.stderr}`,
  );
  t.log(`→ first control call done ${Date.now() - killed} ms after the kill`);
  await waitServiceRunning(next.d, 'web', 8, 45_000);

  // A third manager lost: two of five reachable, no quorum.
  const survivorIds = new Map<string, string[]>();
  const third = next === d ? c : d;
  const left = survivors.filter((m) => m !== third);
  for (const m of left) survivorIds.set(m.name, await containerIds(m.d, 'web'));
  await third.d.kill9();
  const asked = left[0]!;
  let last = { code: 0, stdout: '', stderr: '', ms: 0 };
  await eventually(async () => {
    const t0 = Date.now();
    const x = await asked.d.cli(['service', 'scale', '-d', 'web=3'], { timeoutMs: 20_000 });
    last = { ...x, ms: Date.now() - t0 };
    return x.code !== 0 && /quorum/i.test(x.stderr);
  }, 20_000, 500);
  t.not(last.code, 0, 'scale without a quorum fails');
  t.regex(last.stderr, /No quorum: 2 of 5 managers reachable/, last.stderr);
  t.true(last.ms <= 5_000, `it failed in ${last.ms} ms`);
  t.log(`without quorum: ${last.ms} ms: ${last.stderr.trim()}`);
  for (const m of left) t.deepEqual(await containerIds(m.d, 'web'), survivorIds.get(m.name), `containers keep running on ${m.name}`);

  // One manager back: three of five, a quorum again.
  await a.d.start();
  const back = Date.now();
  t.true(
    await eventually(async () => (await asked.d.cli(['service', 'scale', '-d', 'web=6'], { timeoutMs: 20_000 })).code === 0, 40_000, 500),
    'control works again with three of five managers',
  );
  t.log(`${a.name} restarted → control works after ${Date.now() - back} ms`);
  const l2 = await leaderOf([a, ...left], 20_000);
  await waitServiceRunning(l2.d, 'web', 6, 45_000);
  t.log(`whole test ${Date.now() - started} ms`);
});
