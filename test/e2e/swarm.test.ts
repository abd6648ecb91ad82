// The swarm end to end, part A: formation and joining, managers-only calls,
// services across nodes (create/scale/rm, progress), global services and jobs,
// constraints and spread, reservations, drain, and bad input. Real shoalds,
// one network namespace and hostname per host, real runc containers.
//
// One 3-manager + 2-worker swarm is shared by the tests that only add and
// remove services (serially; each removes what it made); tests that change
// membership build small swarms of their own.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { swarmProto } from '@shoal/api';
import type { Teardown } from './harness.js';
import {
  containersOn,
  eventually,
  nodeLs,
  replicasOf,
  serviceLs,
  servicePs,
  startSwarm,
  waitServiceRunning,
  type Swarm,
  type SwarmNode,
} from './swarm-harness.js';

const ROOT = process.getuid?.() === 0;
const e2e = ROOT ? test.serial : test.skip;

// The shared swarm, built once for the tests that leave its membership alone.
const shared: { swarm?: Swarm; teardowns: Array<() => Promise<void> | void> } = { teardowns: [] };
const sharedTeardown: Teardown = { teardown: (fn) => shared.teardowns.push(fn) };

async function sharedSwarm(): Promise<Swarm> {
  shared.swarm ??= await startSwarm(sharedTeardown, { managers: 3, workers: 2 });
  return shared.swarm;
}

test.after.always(async () => {
  for (const fn of shared.teardowns.reverse()) await fn();
});

function counts(spread: Map<string, string[]>): Record<string, number> {
  return Object.fromEntries([...spread].map(([k, v]) => [k, v.length]));
}

/** Waits until the service's containers, counted per host, satisfy `ok`; fails with what it saw. */
async function waitSpread(t: ExecutionContext, s: Swarm, service: string, ok: (c: Record<string, number>) => boolean, timeoutMs = 30_000): Promise<Record<string, number>> {
  let last: Record<string, number> = {};
  const done = await eventually(
    async () => {
      last = counts(await s.spread(service));
      return ok(last);
    },
    timeoutMs,
    250,
  );
  if (!done) t.fail(`containers of ${service} per host: ${JSON.stringify(last)}`);
  return last;
}

async function rmService(s: Swarm, ...names: string[]): Promise<void> {
  const l = await s.leader();
  await l.d.cli(['service', 'rm', ...names]);
  for (const name of names) await eventually(async () => (await s.total(name)) === 0, 30_000, 250);
}

e2e('a 3-manager, 2-worker swarm forms: every node Ready, one leader, the workers without manager status', async (t) => {
  const s = await sharedSwarm();
  for (const m of s.managers) {
    const rows = await nodeLs(m.d);
    t.deepEqual(rows.map((r) => r.hostname).sort(), ['m1', 'm2', 'm3', 'w1', 'w2']);
    t.true(rows.every((r) => r.status === 'Ready' && r.availability === 'Active'));
    t.is(rows.filter((r) => r.managerStatus === 'Leader').length, 1, JSON.stringify(rows));
    t.deepEqual(rows.filter((r) => r.hostname.startsWith('m')).map((r) => r.managerStatus !== '').sort(), [true, true, true]);
    t.deepEqual(rows.filter((r) => r.hostname.startsWith('w')).map((r) => r.managerStatus), ['', '']);
    // `*` marks the node the CLI talks to.
    t.is(rows.find((r) => r.self)?.hostname, m.name);
  }
});

e2e('joining: a wrong or rotated-out token is refused and changes nothing; the manager token makes a manager; joining twice is refused', async (t) => {
  const s = await startSwarm(t, { managers: 1 });
  const m1 = s.first.d;
  const spare = await s.addHost('worker');
  const before = await nodeLs(m1);
  const worker = await s.token('worker');
  t.regex(worker, /^SWMTKN-1-/);

  // A token whose secret is wrong.
  const wrongSecret = worker.slice(0, -4) + (worker.endsWith('aaaa') ? 'bbbb' : 'aaaa');
  const r1 = await spare.d.cli(['swarm', 'join', '--token', wrongSecret, s.joinAddr], { timeoutMs: 30_000 });
  t.not(r1.code, 0);
  t.regex(r1.stderr, /token/i, r1.stderr);
  // A token for another swarm's CA (the digest does not match): the joining node refuses to trust the manager.
  const parts = worker.split('-');
  const digest = parts[2] ?? '';
  parts[2] = digest.slice(0, -4) + (digest.endsWith('aaaa') ? 'bbbb' : 'aaaa');
  const otherCa = await spare.d.cli(['swarm', 'join', '--token', parts.join('-'), s.joinAddr], { timeoutMs: 30_000 });
  t.not(otherCa.code, 0);
  t.regex(otherCa.stderr, /CA|certificate|digest|token/, otherCa.stderr);
  t.log(`another CA: ${otherCa.stderr.trim()}`);
  // Not a token at all.
  const r2 = await spare.d.cli(['swarm', 'join', '--token', 'not-a-token', s.joinAddr], { timeoutMs: 30_000 });
  t.not(r2.code, 0);
  t.regex(r2.stderr, /token/i, r2.stderr);
  t.deepEqual(await nodeLs(m1), before);

  // Rotation: the old worker token is refused from now on.
  const rot = await m1.cli(['swarm', 'join-token', '--rotate', 'worker']);
  t.is(rot.code, 0, rot.stderr);
  t.regex(rot.stdout, /Successfully rotated worker join token/);
  const fresh = await s.token('worker');
  t.not(fresh, worker);
  const r3 = await spare.d.cli(['swarm', 'join', '--token', worker, s.joinAddr], { timeoutMs: 30_000 });
  t.not(r3.code, 0);
  t.regex(r3.stderr, /token/i, r3.stderr);
  t.deepEqual(await nodeLs(m1), before);
  // The refused node is not part of a swarm: `node ls` there says so.
  const notIn = await spare.d.cli(['node', 'ls']);
  t.not(notIn.code, 0);
  t.log(`wrong secret: ${r1.stderr.trim()}\nnot a token: ${r2.stderr.trim()}\nrotated out: ${r3.stderr.trim()}`);

  // The new token works.
  const ok = await spare.d.cli(['swarm', 'join', '--token', fresh, s.joinAddr], { timeoutMs: 30_000 });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, 'This node joined a swarm as a worker.\n');
  await s.waitReady();
  const after = await nodeLs(m1);
  t.is(after.length, 2);

  // Joining again is refused and changes nothing.
  const twice = await spare.d.cli(['swarm', 'join', '--token', fresh, s.joinAddr], { timeoutMs: 30_000 });
  t.not(twice.code, 0);
  t.regex(twice.stderr, /already part of a swarm/i, twice.stderr);
  t.log(`joining twice: ${twice.stderr.trim()}`);
  t.deepEqual(await nodeLs(m1), after);

  // The manager token makes a manager.
  const m2 = await s.addHost('manager');
  const mt = await s.token('manager');
  const asManager = await m2.d.cli(['swarm', 'join', '--token', mt, '--advertise-addr', m2.host.ip, s.joinAddr], { timeoutMs: 30_000 });
  t.is(asManager.code, 0, asManager.stderr);
  t.is(asManager.stdout, 'This node joined a swarm as a manager.\n');
  await s.waitReady();
  const rows = await nodeLs(m2.d);
  t.is(rows.length, 3);
  t.not(rows.find((r) => r.hostname === 'm2')?.managerStatus, '');
  t.is(rows.find((r) => r.hostname === 'w1')?.managerStatus, '');

  // The last manager cannot be demoted: with two managers, demoting one is allowed, the other then is the last.
  const demote = await m1.cli(['node', 'demote', 'm2']);
  t.is(demote.code, 0, demote.stderr);
  await eventually(async () => (await nodeLs(m1)).find((r) => r.hostname === 'm2')?.managerStatus === '', 20_000, 200);
  const beforeLast = await nodeLs(m1);
  const last = await m1.cli(['node', 'demote', 'm1']);
  t.not(last.code, 0);
  t.regex(last.stderr, /last manager/i, last.stderr);
  t.log(`demoting the last manager: ${last.stderr.trim()}`);
  t.deepEqual(await nodeLs(m1), beforeLast);
});

e2e('a worker is refused on manager calls: the CLI gets docker\'s message, and Control on the cluster port refuses its certificate', async (t) => {
  const s = await sharedSwarm();
  const w1 = s.node('w1');
  const r = await w1.d.cli(['node', 'ls']);
  t.is(r.code, 1, `exit code of node ls on a worker: ${r.code}`);
  t.regex(r.stderr, /This node is not a swarm manager\. Worker nodes can't be used to view or modify cluster state/);
  const c = await w1.d.cli(['service', 'create', '-d', '--name', 'nope', 'busybox', 'sleep', '100']);
  t.not(c.code, 0);
  t.regex(c.stderr, /not a swarm manager/);
  t.false((await serviceLs(s.first.d)).some((x) => x.name === 'nope'));

  // A small gRPC client with each node's own certificate, from that node's host, to m1's cluster port.
  const call = async (node: SwarmNode): Promise<{ err: ServiceError | null; nodes: number }> => {
    const dir = join(node.d.dataRoot, 'swarm', 'certificates');
    const read = (f: string): Promise<Buffer> => readFile(join(dir, f));
    const [key, cert, ca] = await Promise.all([read('swarm-node.key'), read('swarm-node.crt'), read('swarm-root-ca.crt')]);
    const sock = await node.d.tunnel(t, 2377, s.first.host.ip);
    const creds = credentials.createSsl(ca, key, cert, { checkServerIdentity: () => undefined });
    const client = new (swarmProto().Control)(`unix:${sock}`, creds, { 'grpc.ssl_target_name_override': 'swarm-manager' });
    try {
      return await new Promise((resolve) => {
        client.ListNodes({}, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res?: { nodes: unknown[] }) =>
          resolve({ err, nodes: res?.nodes.length ?? 0 }),
        );
      });
    } finally {
      client.close();
    }
  };
  const asManager = await call(s.node('m2'));
  t.is(asManager.err, null, asManager.err?.message);
  t.is(asManager.nodes, 5);
  const asWorker = await call(w1);
  t.truthy(asWorker.err, 'a worker certificate reached Control');
  t.is(asWorker.err?.code, 7 /* PERMISSION_DENIED */, asWorker.err?.message);
  t.regex(asWorker.err?.message ?? '', /manager/i);
});

e2e('service create/scale/rm across nodes: replicas spread over hosts, REPLICAS and NODE columns, scale up and down, rm removes every container', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  // From a follower manager: forwarded to the leader.
  const follower = s.managers.find((m) => m.d !== l) ?? s.first;
  const id = (await follower.d.ok(['service', 'create', '-d', '--name', 'web', '--replicas', '5', 'busybox', 'sleep', '1000'])).trim();
  t.regex(id, /^[a-z0-9]{25}$/);
  await waitServiceRunning(l, 'web', 5);
  // Spread by service: one per node.
  await waitSpread(t, s, 'web', (c) => Object.values(c).every((n) => n === 1));
  const ps = await servicePs(l, 'web');
  t.deepEqual(ps.map((r) => r.name).sort(), ['web.1', 'web.2', 'web.3', 'web.4', 'web.5']);
  t.deepEqual(ps.map((r) => r.node).sort(), ['m1', 'm2', 'm3', 'w1', 'w2']);
  t.true(ps.every((r) => r.desired === 'Running' && r.current.startsWith('Running')), JSON.stringify(ps));
  // Containers carry the task's name.
  const onW2 = await containersOn(s.node('w2').d, 'web');
  t.regex(onW2[0] ?? '', /^web\.\d\.[a-z0-9]{25}$/);

  const up = await l.cli(['service', 'scale', '-d', 'web=8']);
  t.is(up.code, 0, up.stderr);
  t.is(up.stdout, 'web scaled to 8\n');
  await waitServiceRunning(l, 'web', 8);
  const c8 = await waitSpread(t, s, 'web', (c) => Object.values(c).reduce((a, b) => a + b, 0) === 8);
  t.true(Object.values(c8).every((n) => n === 1 || n === 2), JSON.stringify(c8));

  const down = await l.cli(['service', 'scale', '-d', 'web=2']);
  t.is(down.code, 0, down.stderr);
  await waitServiceRunning(l, 'web', 2);
  const c2 = await waitSpread(t, s, 'web', (c) => Object.values(c).reduce((a, b) => a + b, 0) === 2);
  t.true(Object.values(c2).every((n) => n <= 1), JSON.stringify(c2));
  t.is((await servicePs(l, 'web', ['--filter', 'desired-state=running'])).length, 2);

  const rm = await l.cli(['service', 'rm', 'web']);
  t.is(rm.code, 0, rm.stderr);
  t.is(rm.stdout, 'web\n');
  t.false((await serviceLs(l)).some((x) => x.name === 'web'));
  // Every container gone from every host, stopped ones included.
  await eventually(async () => {
    for (const n of s.nodes) if ((await containersOn(n.d, 'web', true)).length > 0) return false;
    return true;
  }, 30_000, 250);
  for (const n of s.nodes) t.deepEqual(await containersOn(n.d, 'web', true), [], n.name);
});

e2e('service create without -d shows per-replica progress and exits 0 once converged; non-zero when it cannot converge', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  const r = await l.cli(['service', 'create', '--name', 'conv', '--replicas', '3', 'busybox', 'sleep', '1000'], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /overall progress: 3 out of 3 tasks/);
  for (const slot of ['1/3', '2/3', '3/3']) t.regex(r.stdout, new RegExp(`${slot}: *running`), r.stdout);
  t.regex(r.stdout, /verify: Service( \S+)? converged/);
  t.is(await replicasOf(l, 'conv'), '3/3');

  const bad = await l.cli(['service', 'create', '--name', 'stuck', '--constraint', 'node.labels.nothing==here', 'busybox', 'sleep', '1000'], {
    env: { SHOAL_CONVERGE_TIMEOUT: '4' },
    timeoutMs: 60_000,
  });
  t.not(bad.code, 0);
  t.regex(bad.stderr, /did not converge/);
  t.regex(bad.stderr + bad.stdout, /no suitable node/);
  t.log(`cannot converge: ${bad.stderr.trim()}`);
  t.is(await replicasOf(l, 'stuck'), '0/1');
  await rmService(s, 'conv', 'stuck');
});

e2e('constraints (node.role, node labels after node update --label-add) and spread over a placement preference', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  await l.ok(['service', 'create', '-d', '--name', 'onworkers', '--replicas', '4', '--constraint', 'node.role==worker', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'onworkers', 4);
  const c = await waitSpread(t, s, 'onworkers', (x) => x.w1 === 2 && x.w2 === 2);
  t.deepEqual(c, { m1: 0, m2: 0, m3: 0, w1: 2, w2: 2 });

  await l.ok(['node', 'update', '--label-add', 'disk=ssd', 'w2']);
  t.regex(await l.ok(['node', 'inspect', '--format', '{{json .Spec.Labels}}', 'w2']), /"disk":"ssd"/);
  await l.ok(['service', 'create', '-d', '--name', 'onssd', '--replicas', '3', '--constraint', 'node.labels.disk==ssd', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'onssd', 3);
  t.deepEqual(await waitSpread(t, s, 'onssd', (x) => x.w2 === 3), { m1: 0, m2: 0, m3: 0, w1: 0, w2: 3 });
  // The constraint enforcer: once w2 loses the label its tasks stop, the replicas wait with the reason,
  // and they run wherever the label turns up next.
  await l.ok(['node', 'update', '--label-rm', 'disk', 'w2']);
  t.deepEqual(await waitSpread(t, s, 'onssd', (x) => x.w2 === 0), { m1: 0, m2: 0, m3: 0, w1: 0, w2: 0 });
  await eventually(async () => (await replicasOf(l, 'onssd')) === '0/3', 15_000, 250);
  t.is(await replicasOf(l, 'onssd'), '0/3');
  let why: string[] = [];
  await eventually(async () => {
    why = (await servicePs(l, 'onssd', ['--filter', 'desired-state=running'])).map((r) => r.error);
    return why.length === 3 && why.every((e) => e !== '');
  }, 15_000, 250);
  t.true(why.length === 3 && why.every((e) => /^no suitable node \(scheduling constraints not satisfied on 5 nodes\)$/.test(e)), JSON.stringify(why));
  await l.ok(['node', 'update', '--label-add', 'disk=ssd', 'w1']);
  await waitServiceRunning(l, 'onssd', 3);
  t.deepEqual(await waitSpread(t, s, 'onssd', (x) => x.w1 === 3), { m1: 0, m2: 0, m3: 0, w1: 3, w2: 0 });
  await l.ok(['node', 'update', '--label-rm', 'disk', 'w1']);
  await l.ok(['node', 'update', '--label-add', 'disk=ssd', 'w2']);
  // != is honoured too.
  await l.ok(['service', 'create', '-d', '--name', 'notssd', '--replicas', '4', '--constraint', 'node.labels.disk!=ssd', '--constraint', 'node.role!=manager', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'notssd', 4);
  t.deepEqual(await waitSpread(t, s, 'notssd', (x) => x.w1 === 4), { m1: 0, m2: 0, m3: 0, w1: 4, w2: 0 });
  await rmService(s, 'onworkers', 'onssd', 'notssd');

  // Zone a is m1 alone; zone b the other four. Spread over zones puts half the replicas on m1.
  await l.ok(['node', 'update', '--label-add', 'zone=a', 'm1']);
  for (const n of ['m2', 'm3', 'w1', 'w2']) await l.ok(['node', 'update', '--label-add', 'zone=b', n]);
  await l.ok(['service', 'create', '-d', '--name', 'zoned', '--replicas', '4', '--placement-pref', 'spread=node.labels.zone', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'zoned', 4);
  const z = await waitSpread(t, s, 'zoned', (x) => Object.values(x).reduce((a, b) => a + b, 0) === 4);
  t.is(z.m1, 2, JSON.stringify(z));
  t.is((z.m2 ?? 0) + (z.m3 ?? 0) + (z.w1 ?? 0) + (z.w2 ?? 0), 2, JSON.stringify(z));
  await rmService(s, 'zoned');
  await l.ok(['node', 'update', '--label-rm', 'disk', 'w2']);
  for (const n of ['m1', 'm2', 'm3', 'w1', 'w2']) await l.ok(['node', 'update', '--label-rm', 'zone', n]);
});

e2e('reservations refuse overcommit, and service ps explains why ("no suitable node (insufficient memory on 5 nodes)")', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  // Every node reports this machine's memory: 60% of it fits once per node, never twice.
  const mb = Math.floor((totalmem() * 0.6) / 2 ** 20);
  await l.ok(['service', 'create', '-d', '--name', 'fat', '--replicas', '6', '--reserve-memory', `${mb}M`, 'busybox', 'sleep', '1000']);
  await eventually(async () => (await replicasOf(l, 'fat')) === '5/6', 30_000, 250);
  t.is(await replicasOf(l, 'fat'), '5/6');
  t.deepEqual(await waitSpread(t, s, 'fat', (x) => Object.values(x).every((n) => n === 1)), { m1: 1, m2: 1, m3: 1, w1: 1, w2: 1 });
  let pending: Awaited<ReturnType<typeof servicePs>> = [];
  await eventually(async () => {
    pending = (await servicePs(l, 'fat')).filter((r) => r.current.startsWith('Pending'));
    return pending.length === 1 && pending[0]!.error !== '';
  }, 15_000, 250);
  t.is(pending.length, 1, JSON.stringify(pending));
  t.is(pending[0]?.node, '');
  t.regex(pending[0]?.error ?? '', /^no suitable node \(insufficient memory on 5 nodes\)$/);
  // Scaling down to what fits lets it converge.
  await l.ok(['service', 'scale', '-d', 'fat=5']);
  await waitServiceRunning(l, 'fat', 5);
  await rmService(s, 'fat');

  // --replicas-max-per-node: the same kind of refusal, and REPLICAS says why.
  await l.ok(['service', 'create', '-d', '--name', 'capped', '--replicas', '6', '--replicas-max-per-node', '1', 'busybox', 'sleep', '1000']);
  await eventually(async () => (await replicasOf(l, 'capped')) === '5/6 (max 1 per node)', 30_000, 250);
  t.is(await replicasOf(l, 'capped'), '5/6 (max 1 per node)');
  let capped: Awaited<ReturnType<typeof servicePs>> = [];
  await eventually(async () => {
    capped = (await servicePs(l, 'capped')).filter((r) => r.current.startsWith('Pending') && r.error !== '');
    return capped.length === 1;
  }, 15_000, 250);
  t.regex(capped[0]?.error ?? '', /^no suitable node \(max replicas per node reached on 5 nodes\)$/, JSON.stringify(capped));
  await rmService(s, 'capped');
});

e2e('drain moves tasks off a node; active brings it back into scheduling', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  await l.ok(['service', 'create', '-d', '--name', 'dr', '--replicas', '5', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'dr', 5);
  await waitSpread(t, s, 'dr', (x) => Object.values(x).every((n) => n === 1));
  const upd = await l.cli(['node', 'update', '--availability', 'drain', 'w1']);
  t.is(upd.code, 0, upd.stderr);
  t.is(upd.stdout, 'w1\n');
  t.is((await nodeLs(l)).find((r) => r.hostname === 'w1')?.availability, 'Drain');
  const c = await waitSpread(t, s, 'dr', (x) => x.w1 === 0 && Object.values(x).reduce((a, b) => a + b, 0) === 5);
  t.is(c.w1, 0);
  await waitServiceRunning(l, 'dr', 5);
  const running = await servicePs(l, 'dr', ['--filter', 'desired-state=running']);
  t.false(running.some((r) => r.node === 'w1'), JSON.stringify(running));
  // New work avoids the drained node too.
  await l.ok(['service', 'scale', '-d', 'dr=8']);
  await waitServiceRunning(l, 'dr', 8);
  t.is((await containersOn(s.node('w1').d, 'dr')).length, 0);
  await l.ok(['node', 'update', '--availability', 'active', 'w1']);
  t.is((await nodeLs(l)).find((r) => r.hostname === 'w1')?.availability, 'Active');
  // Pause keeps what runs there but takes no new tasks.
  const onW2 = (await containersOn(s.node('w2').d, 'dr')).length;
  t.true(onW2 > 0);
  await l.ok(['node', 'update', '--availability', 'pause', 'w2']);
  await l.ok(['service', 'scale', '-d', 'dr=12']);
  await waitServiceRunning(l, 'dr', 12);
  t.is((await containersOn(s.node('w2').d, 'dr')).length, onW2);
  await l.ok(['node', 'update', '--availability', 'active', 'w2']);
  await rmService(s, 'dr');
});

e2e('bad input gets a clear error, a non-zero exit, and changes nothing', async (t) => {
  const s = await sharedSwarm();
  const l = (await s.leader()).d;
  await l.ok(['service', 'create', '-d', '--name', 'glob', '--mode', 'global', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'glob', 5);
  const services = await serviceLs(l);
  const nodes = await nodeLs(l);
  const cases: Array<[string[], RegExp]> = [
    [['service', 'create', '-d', '--name', 'bad name!', 'busybox'], /name/i],
    [['service', 'create', '-d', '--name', '-lead', 'busybox'], /name/i],
    [['service', 'create', '-d', '--name', 'x'.repeat(70), 'busybox'], /name/i],
    [['service', 'create', '-d', '--name', 'glob', 'busybox'], /already exists/i],
    [['service', 'create', '-d', '--name', 'c1', '--constraint', 'node.role=worker', 'busybox'], /constraint/i],
    [['service', 'create', '-d', '--name', 'c2', '--constraint', 'node.nosuchkey==1', 'busybox'], /constraint|key/i],
    [['service', 'create', '-d', '--name', 'c3', '--placement-pref', 'pack=node.labels.zone', 'busybox'], /placement|spread/i],
    [['service', 'create', '-d', '--name', 'neg', '--replicas', '-1', 'busybox'], /replicas/i],
    [['service', 'create', '-d', '--name', 'gr', '--mode', 'global', '--replicas', '2', 'busybox'], /replicas can only be used with replicated/],
    [['service', 'create', '-d', '--name', 'md', '--mode', 'sideways', 'busybox'], /mode/i],
    [['service', 'scale', 'glob=3'], /scale can only be used with replicated/],
    [['service', 'scale', 'nosuch=3'], /nosuch/],
    [['service', 'scale', 'glob=-1'], /replicas|invalid/i],
    [['service', 'rm', 'nosuch'], /nosuch/],
    [['service', 'inspect', 'nosuch'], /no such service: nosuch/i],
    [['service', 'ps', 'nosuch'], /no such service: nosuch/i],
    [['node', 'inspect', 'nosuch'], /No such node: nosuch/i],
    [['node', 'update', '--availability', 'drain', 'nosuch'], /nosuch/],
    [['node', 'update', '--availability', 'sleepy', 'w1'], /availability/],
    [['node', 'rm', 'nosuch'], /nosuch/],
    [['node', 'rm', 'm2'], /manager|demote/i],
    [['node', 'rm', 'w1'], /down|--force|running/i],
  ];
  for (const [args, re] of cases) {
    const r = await l.cli(args);
    t.log(`shoal ${args.join(' ')} → ${r.code}: ${r.stderr.trim()}`);
    t.not(r.code, 0, `shoal ${args.join(' ')} exited 0: ${r.stdout}`);
    t.regex(r.stderr, re, `shoal ${args.join(' ')}`);
    t.notRegex(r.stderr, /at .*\.js:\d+|TypeError|undefined/, `shoal ${args.join(' ')} printed a stack or an internal error: ${r.stderr}`);
  }
  t.deepEqual(await serviceLs(l), services);
  t.deepEqual(
    (await nodeLs(l)).map((n) => [n.hostname, n.status, n.availability, n.managerStatus !== '']),
    nodes.map((n) => [n.hostname, n.status, n.availability, n.managerStatus !== '']),
  );
  await rmService(s, 'glob');
});

e2e('global services run on every node, including one that joins later; replicated and global jobs run to completion', async (t) => {
  const s = await startSwarm(t, { managers: 1, workers: 1 });
  const l = s.first.d;
  await l.ok(['service', 'create', '-d', '--name', 'g', '--mode', 'global', 'busybox', 'sleep', '1000']);
  await waitServiceRunning(l, 'g', 2);
  t.deepEqual(await waitSpread(t, s, 'g', (x) => x.m1 === 1 && x.w1 === 1), { m1: 1, w1: 1 });
  await s.addNode('worker');
  await waitServiceRunning(l, 'g', 3);
  t.deepEqual(await waitSpread(t, s, 'g', (x) => x.m1 === 1 && x.w1 === 1 && x.w2 === 1), { m1: 1, w1: 1, w2: 1 });
  t.deepEqual((await servicePs(l, 'g')).map((r) => r.node).sort(), ['m1', 'w1', 'w2']);

  // A replicated job: 4 completions, 2 at a time; the CLI waits for them and exits 0.
  const rj = await l.cli(['service', 'create', '--name', 'rj', '--mode', 'replicated-job', '--replicas', '4', '--max-concurrent', '2', 'busybox', 'sh', '-c', 'sleep 0.3'], {
    timeoutMs: 60_000,
  });
  t.is(rj.code, 0, rj.stderr);
  t.regex(rj.stdout, /job progress: 4 out of 4 complete/);
  t.is(await replicasOf(l, 'rj'), '0/2 (4/4 completed)');
  const rjTasks = await servicePs(l, 'rj');
  t.is(rjTasks.length, 4);
  t.true(rjTasks.every((r) => r.desired === 'Complete' && r.current.startsWith('Complete')), JSON.stringify(rjTasks));

  // A global job: once on each node.
  const gj = await l.cli(['service', 'create', '--name', 'gj', '--mode', 'global-job', 'busybox', 'true'], { timeoutMs: 60_000 });
  t.is(gj.code, 0, gj.stderr);
  t.regex(gj.stdout, /job progress: 3 out of 3 complete/);
  t.is(await replicasOf(l, 'gj'), '0/3 (3/3 completed)');
  const gjTasks = await servicePs(l, 'gj');
  t.deepEqual(gjTasks.map((r) => r.node).sort(), ['m1', 'w1', 'w2']);
  t.true(gjTasks.every((r) => r.current.startsWith('Complete')), JSON.stringify(gjTasks));
  // Job containers exited (none running).
  for (const n of s.nodes) t.deepEqual(await containersOn(n.d, 'gj'), [], n.name);
});
