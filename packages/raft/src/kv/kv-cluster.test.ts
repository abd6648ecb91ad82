// Three KV servers as real processes on loopback: writes, reads and CAS
// through the client, kill -9 of the leader, fail-over, restart, convergence.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from '../transport/test-helpers.js';
import { KvClient } from './client.js';
import type { KvStatusResponse } from './kv-proto.js';

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  id: string;
  args: string[];
  child: ChildProcess;
  client: string;
}

function launch(id: string, args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id} did not start in 10 s: ${stderr}`)), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${id} exited with ${code}: ${stderr}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const ev = JSON.parse(line) as { event: string; client: string };
      if (ev.event === 'ready') {
        clearTimeout(timer);
        resolve({ id, args, child, client: ev.client });
      }
    });
  });
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('three KV processes survive kill -9 of the leader and converge to one state hash', async (t) => {
  t.timeout(60_000);
  const root = await mkdtemp(join(tmpdir(), 'shoal-kv-'));
  const ids = ['n1', 'n2', 'n3'];
  const raftPorts = await Promise.all(ids.map(() => freePort()));
  const clientPorts = await Promise.all(ids.map(() => freePort()));
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${raftPorts[i]}`).join(',');
  const peerClients = ids.map((id, i) => `${id}=127.0.0.1:${clientPorts[i]}`).join(',');
  const procs = new Map<string, Proc>();
  t.teardown(async () => {
    for (const p of procs.values()) p.child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  const argsOf = (id: string, i: number) => [
    '--id', id,
    '--listen', `127.0.0.1:${raftPorts[i]}`,
    '--client', `127.0.0.1:${clientPorts[i]}`,
    '--data', join(root, id),
    '--peers', peers,
    '--peer-clients', peerClients,
    '--snapshot-every', '50',
    '--snapshot-catch-up', '10',
    '--log-level', 'warn',
  ];
  await Promise.all(ids.map(async (id, i) => procs.set(id, await launch(id, argsOf(id, i)))));
  const endpoints = clientPorts.map((p) => `127.0.0.1:${p}`);
  const kv = new KvClient({ endpoints, timeoutMs: 10_000 });
  t.teardown(() => kv.close());

  // Writes, reads and CAS, whichever member the client tries first.
  await kv.put('a', '1');
  t.is(dec.decode((await kv.get('a')).value), '1');
  t.true((await kv.cas('a', '1', '2')).succeeded);
  const lost = await kv.cas('a', '1', '3');
  t.false(lost.succeeded);
  t.is(dec.decode(lost.current), '2');
  t.true((await kv.cas('fresh', undefined, 'x')).succeeded);
  t.false((await kv.cas('fresh', undefined, 'y')).succeeded);
  await kv.append('log', 'a');
  await kv.append('log', 'b');
  t.is(dec.decode((await kv.get('log')).value), 'ab');
  t.is((await kv.get('missing')).value, undefined);
  for (let i = 0; i < 30; i++) await kv.put(`k${i}`, `v${i}`);

  // A follower answers a write with NotLeader naming the leader's client address.
  const statuses = (await kv.statusAll()).filter((s): s is KvStatusResponse => !(s instanceof Error));
  const leader = statuses.find((s) => s.state === 'Leader')!;
  t.truthy(leader);
  const follower = endpoints.find((e) => e !== leader.members.find((m) => m.id === leader.id)?.client_addr)!;
  const refusal = await t.throwsAsync(kv.put('x', 'y', { endpoint: follower }));
  t.like(refusal, { code: 'NotLeader', leaderId: leader.id, leaderClientAddr: endpoints[ids.indexOf(leader.id)], indeterminate: false });
  // A linearizable read on that follower sees the last acknowledged write.
  t.is(dec.decode((await kv.get('k29', { endpoint: follower })).value), 'v29');

  // kill -9 the leader: a write succeeds through a new leader within 5 s.
  const victim = procs.get(leader.id)!;
  victim.child.kill('SIGKILL');
  procs.delete(leader.id);
  const failover = new KvClient({ endpoints, timeoutMs: 5_000, retryIndeterminate: true });
  t.teardown(() => failover.close());
  const started = Date.now();
  await failover.put('after-failover', 'ok');
  const took = Date.now() - started;
  t.log(`fail-over write took ${took} ms`);
  t.true(took < 5_000, `fail-over write took ${took} ms`);
  // Enough writes while it is down that it needs the leader's snapshot to catch up.
  for (let i = 0; i < 120; i++) await failover.put(`d${i}`, `w${i}`);

  // Restart it with the same data directory: all three converge.
  const i = ids.indexOf(leader.id);
  procs.set(leader.id, await launch(leader.id, argsOf(leader.id, i)));
  const hashes = await eventually(
    'the three members to converge',
    async () => {
      const all = await kv.statusAll();
      if (all.some((s) => s instanceof Error)) return undefined;
      const ss = all as KvStatusResponse[];
      const applied = new Set(ss.map((s) => s.applied));
      const hash = new Set(ss.map((s) => s.state_hash));
      return applied.size === 1 && hash.size === 1 ? ss : undefined;
    },
    15_000,
  );
  t.is(hashes[0]!.keys, 30 + 120 + 4);
  t.true(hashes.some((s) => s.snapshot_index > 0));
  t.is(dec.decode((await kv.get('after-failover')).value), 'ok');
});
