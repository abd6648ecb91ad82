// Recovering a swarm that lost its majority of managers: control calls fail
// fast with a clear error while workloads keep running, and `swarm init
// --force-new-cluster` on the survivor brings the cluster back with its state.
import test from 'ava';
import { containersOn, eventually, serviceLs, startSwarm, waitServiceRunning } from './swarm-harness.js';

test('swarm init --force-new-cluster recovers from a lost majority with the state intact', async (t) => {
  t.timeout(180_000);
  const s = await startSwarm(t, { managers: 3 });
  const [m1, m2, m3] = s.managers;
  await m1!.d.ok(['service', 'create', '-d', '--name', 'keep', '--replicas', '3', 'busybox', 'sleep', '100000']);
  await waitServiceRunning(m1!.d, 'keep', 3);
  const before = await containersOn(m1!.d, 'keep');
  t.true(before.length >= 1);

  // Two of three managers die for good.
  await m2!.d.kill9();
  await m3!.d.kill9();
  const t0 = Date.now();
  const lost = await m1!.d.cli(['service', 'ls']);
  t.not(lost.code, 0);
  t.regex(lost.stderr, /quorum|leader/i, lost.stderr);
  t.true(Date.now() - t0 < 35_000, `the control call failed after ${Date.now() - t0} ms`);
  // The workload keeps running meanwhile.
  t.deepEqual(await containersOn(m1!.d, 'keep'), before);

  const r = await m1!.d.cli(['swarm', 'init', '--force-new-cluster']);
  t.is(r.code, 0, r.stderr);
  t.true(await eventually(async () => (await m1!.d.cli(['service', 'ls'])).code === 0, 30_000));
  const services = await serviceLs(m1!.d);
  t.deepEqual(
    services.map((x) => x.name),
    ['keep'],
  );
  t.regex((await m1!.d.ok(['node', 'ls'])).split('\n').find((l) => l.includes('*')) ?? '', /Leader/);
  // The recovered cluster takes changes again; the running containers were never touched.
  await m1!.d.ok(['service', 'scale', '-d', 'keep=4']);
  t.true(await eventually(async () => (await containersOn(m1!.d, 'keep')).length >= before.length, 30_000));
  for (const id of before) t.true((await containersOn(m1!.d, 'keep')).includes(id));
});
