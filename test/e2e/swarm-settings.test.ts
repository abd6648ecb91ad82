// Swarm settings from any manager: join-token rotation and `swarm update` on
// a follower go through the leader; the old token stops working at once.
import test from 'ava';
import { leaderOf, nodeLs, startSwarm } from './swarm-harness.js';

test('a follower rotates the worker token and updates swarm settings through the leader', async (t) => {
  t.timeout(150_000);
  const s = await startSwarm(t, { managers: 3 });
  const leader = await leaderOf(s.managers);
  const follower = s.managers.find((m) => m !== leader)!;
  const old = (await follower.d.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  const rotated = await follower.d.cli(['swarm', 'join-token', '--rotate', 'worker']);
  t.is(rotated.code, 0, rotated.stderr);
  t.regex(rotated.stdout, /^Successfully rotated worker join token\./m);
  const fresh = /--token (SWMTKN-1-\S+)/.exec(rotated.stdout)?.[1];
  t.truthy(fresh);
  t.not(fresh, old);
  // Every manager hands out the new token.
  t.is((await leader.d.ok(['swarm', 'join-token', '-q', 'worker'])).trim(), fresh ?? '');

  const before = (await nodeLs(leader.d)).length;
  const host = await s.addHost('worker');
  const refused = await host.d.cli(['swarm', 'join', '--token', old, s.joinAddr]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /join token/i);
  t.is((await nodeLs(leader.d)).length, before);
  t.is((await host.d.cli(['swarm', 'join', '--token', fresh!, s.joinAddr])).code, 0);

  const upd = await follower.d.cli(['swarm', 'update', '--task-history-limit', '2', '--dispatcher-heartbeat', '3s']);
  t.is(upd.code, 0, upd.stderr);
  t.regex(upd.stdout, /Swarm updated/);
  const bad = await follower.d.cli(['swarm', 'update', '--cert-expiry', '10m']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /cert-expiry|at least 1 hour/);
});
