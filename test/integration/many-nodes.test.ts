// A hundred-node swarm in one process: one manager built the way shoald builds
// it (SwarmNode: Raft, NodeCA, Control, Dispatcher and the leader components,
// on a real cluster port with mutual TLS on 127.0.0.1) and 99 workers that
// join with the worker token like `swarm join` does (each gets its own
// certificate from the manager's CA) and run a real Agent over a real
// dispatcher session, with a FakeExecutor in place of containers. The manager
// runs a fake agent too, so 100 nodes take tasks. Checks what only many nodes
// show: spread, scale-down, global services on every node, and drain.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import test from 'ava';
import { fromServiceError, nopLogger, swarmProto } from '@shoal/api';
import type { InitRequest__Output, JoinRequest__Output, Node__Output, Service__Output, ServiceSpec, Task__Output } from '@shoal/api';
import type { ControlClient } from '@shoal/api/gen/shoal/swarm/v1/Control';
import { Agent, FakeExecutor } from '@shoal/agent';
import { clientCredentials, clusterChannelOptions } from '@shoal/manager/ca/index';
import { SwarmNode } from '@shoal/daemon/swarm/swarm-node';
import type { AgentContext, AgentHandle } from '@shoal/daemon/swarm/swarm-node';
import { leaderComponents } from '@shoal/daemon/swarm/components';

const NODES = Number(process.env.SHOAL_SCALE_NODES ?? 100);

interface FakeHost {
  name: string;
  swarm: SwarmNode;
  executor: FakeExecutor;
  agent?: Agent;
  dir: string;
}

interface Cluster {
  port: number;
  manager: FakeHost;
  hosts: FakeHost[];
  control: ControlClient;
  /** node ID → host. */
  byId: Map<string, FakeHost>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** The daemon's startAgent (packages/daemon/src/swarm/agent.ts) with a FakeExecutor for the engine. */
function fakeAgent(host: FakeHost, ctx: AgentContext): AgentHandle {
  const agent = new Agent({
    executor: host.executor,
    managers: ctx.managers,
    credentials: () => clientCredentials(ctx.cert, 'MANAGER'),
    channelOptions: clusterChannelOptions(),
    dataDir: ctx.dataDir,
    logger: nopLogger,
    ...(ctx.onNode ? { onNode: ctx.onNode } : {}),
  });
  host.agent = agent;
  const ctl = new AbortController();
  const running = agent.run(ctl.signal).catch(() => undefined);
  return {
    managers: () => agent.state().managers,
    async stop() {
      ctl.abort();
      await running;
    },
  };
}

/** Every host made, joined or not, so a failed start still cleans up. */
const allHosts: FakeHost[] = [];

async function newHost(name: string, components: boolean): Promise<FakeHost> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-scale-${name}-`));
  const executor = new FakeExecutor({
    description: {
      hostname: name,
      platform: { architecture: 'amd64', os: 'linux' },
      resources: { nano_cpus: 4e9, memory_bytes: 8 * 2 ** 30 },
      engine: { engine_version: 'fake', labels: {}, plugins: [] },
    },
  });
  const host = { name, executor, dir } as FakeHost;
  allHosts.push(host);
  host.swarm = new SwarmNode({
    dataRoot: dir,
    logger: nopLogger,
    describe: () => executor.describe(AbortSignal.timeout(1_000)),
    components: components ? (m, extra) => leaderComponents(m.store, nopLogger, extra) : () => [],
    raft: { tickMs: 50 },
    startAgent: (ctx) => fakeAgent(host, ctx),
  });
  return host;
}

function call<T>(fn: (cb: (err: ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(fromServiceError(err)) : resolve(res as T))));
}

async function startCluster(): Promise<Cluster> {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const manager = await newHost('m1', true);
  const init = { listen_addr: addr, advertise_addr: addr, data_path_port: 0, default_addr_pool: [], default_addr_pool_mask_len: 0, force_new_cluster: false, spec: { dispatcher: { heartbeat_period: { seconds: '1', nanos: 0 } } } } as unknown as InitRequest__Output;
  await manager.swarm.init(init, AbortSignal.timeout(30_000));
  const { token } = await manager.swarm.joinToken('worker', false);
  const hosts = [manager];
  // Join in waves (each join makes a key pair and two calls to the CA).
  const names = Array.from({ length: NODES - 1 }, (_, i) => `w${i + 1}`);
  for (let i = 0; i < names.length; i += 20) {
    const wave = await Promise.all(
      names.slice(i, i + 20).map(async (name) => {
        const h = await newHost(name, false);
        const req: JoinRequest__Output = { listen_addr: '127.0.0.1:2377', advertise_addr: '127.0.0.1', remote_addrs: [addr], join_token: token, availability: '' };
        await h.swarm.join(req, AbortSignal.timeout(30_000));
        return h;
      }),
    );
    hosts.push(...wave);
  }
  const cert = manager.swarm.certificate()!;
  const control = new (swarmProto().Control)(addr, clientCredentials(cert, 'MANAGER'), clusterChannelOptions());
  const byId = new Map(hosts.map((h) => [h.swarm.nodeId!, h]));
  return { port, manager, hosts, control, byId };
}

async function stopHosts(): Promise<void> {
  const [manager, ...workers] = allHosts;
  // Workers first, so their agents do not chase a manager that is gone.
  await Promise.all(workers.map((h) => h.swarm.close().catch(() => undefined)));
  await manager?.swarm.close().catch(() => undefined);
  await Promise.all(allHosts.map((h) => rm(h.dir, { recursive: true, force: true })));
}

async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function tasks(c: Cluster): Task__Output[] {
  return c.manager.swarm.manager!.store.view((tx) => tx.tasks.find());
}

function nodes(c: Cluster): Node__Output[] {
  return c.manager.swarm.manager!.store.view((tx) => tx.nodes.find());
}

/** node ID → running tasks of the service (desired and observed RUNNING), from the manager's store. */
function runningByNode(c: Cluster, serviceId: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of c.hosts) m.set(h.swarm.nodeId!, 0);
  for (const t of tasks(c)) {
    if (t.service_id !== serviceId || t.desired_state !== 'RUNNING' || t.status?.state !== 'RUNNING') continue;
    m.set(t.node_id, (m.get(t.node_id) ?? 0) + 1);
  }
  return m;
}

/** Fake containers running for the service on each host (what each node really runs). */
function containersByHost(c: Cluster, serviceId: string): Map<string, number> {
  const taskService = new Map(tasks(c).map((t) => [t.id, t.service_id]));
  const m = new Map<string, number>();
  for (const h of c.hosts) {
    let n = 0;
    for (const ct of h.executor.containers.values()) if (ct.state === 'running' && taskService.get(ct.taskId) === serviceId) n++;
    m.set(h.swarm.nodeId!, n);
  }
  return m;
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

function spec(name: string, mode: Pick<ServiceSpec, 'replicated' | 'global'>): ServiceSpec {
  return { annotations: { name }, task: { container: { image: 'busybox:latest', args: ['sleep', '100000'] } }, ...mode };
}

async function createService(c: Cluster, s: ServiceSpec): Promise<Service__Output> {
  return (await call<{ service: Service__Output | null }>((cb) => c.control.CreateService({ spec: s }, cb))).service!;
}

async function getService(c: Cluster, id: string): Promise<Service__Output> {
  return (await call<{ service: Service__Output | null }>((cb) => c.control.GetService({ service_id: id }, cb))).service!;
}

let cluster: Cluster | undefined;
const timings: string[] = [];

test.before(async (t) => {
  t.timeout(120_000);
  const started = Date.now();
  cluster = await startCluster();
  const c = cluster;
  const ready = await eventually(() => nodes(c).filter((n) => n.status?.state === 'READY').length === NODES, 60_000, 200);
  if (!ready) throw new Error(`only ${nodes(c).filter((n) => n.status?.state === 'READY').length} of ${NODES} nodes became READY`);
  timings.push(`${NODES} nodes joined and READY in ${Date.now() - started} ms`);
});

test.after.always(async () => {
  cluster?.control.close();
  await stopHosts();
  console.log(timings.join('\n'));
});

let web: Service__Output | undefined;

test.serial(`a ${NODES * 5}-replica service spreads evenly: every node runs 5±1`, async (t) => {
  t.timeout(60_000);
  const c = cluster!;
  const want = NODES * 5;
  const started = Date.now();
  web = await createService(c, spec('web', { replicated: { replicas: want } }));
  const id = web.id;
  let last = new Map<string, number>();
  const ok = await eventually(() => sum((last = runningByNode(c, id))) === want, 50_000, 200);
  t.true(ok, `${sum(last)} of ${want} running`);
  timings.push(`create --replicas ${want} → ${want} running on ${NODES} nodes in ${Date.now() - started} ms`);
  const counts = [...last.values()];
  t.true(
    counts.every((n) => n >= 4 && n <= 6),
    `per-node counts ${Math.min(...counts)}..${Math.max(...counts)}: ${JSON.stringify(counts)}`,
  );
  t.is(last.size, NODES, 'every node has a count');
  // What the nodes really run matches the store.
  t.true(await eventually(() => sum(containersByHost(c, id)) === want, 10_000), `fake containers running: ${sum(containersByHost(c, id))}`);
  t.deepEqual(containersByHost(c, id), last);
});

test.serial('scaling the service down to 50 leaves 50 running and stops the rest on the nodes', async (t) => {
  t.timeout(60_000);
  const c = cluster!;
  const cur = await getService(c, web!.id);
  const started = Date.now();
  await call((cb) => c.control.UpdateService({ service_id: cur.id, service_version: cur.meta!.version!, spec: { ...cur.spec!, replicated: { replicas: 50 } } }, cb));
  let last = new Map<string, number>();
  const ok = await eventually(() => sum((last = runningByNode(c, cur.id))) === 50 && sum(containersByHost(c, cur.id)) === 50, 50_000, 200);
  t.true(ok, `store: ${sum(last)} running, nodes: ${sum(containersByHost(c, cur.id))} fake containers running`);
  timings.push(`scale ${NODES * 5} → 50 converged (store and nodes) in ${Date.now() - started} ms`);
  const counts = [...last.values()];
  t.true(counts.every((n) => n <= 1), `50 replicas on ${NODES} nodes: at most one per node (spread), got max ${Math.max(...counts)}`);
  // Slots 1..50 remain, each once.
  const slots = tasks(c)
    .filter((x) => x.service_id === cur.id && x.desired_state === 'RUNNING')
    .map((x) => Number(x.slot))
    .sort((a, b) => a - b);
  t.deepEqual(slots, Array.from({ length: 50 }, (_, i) => i + 1));
});

let globalSvc: Service__Output | undefined;

test.serial('a global service runs exactly one task on every node', async (t) => {
  t.timeout(60_000);
  const c = cluster!;
  const started = Date.now();
  globalSvc = await createService(c, spec('agentd', { global: {} }));
  const id = globalSvc.id;
  let last = new Map<string, number>();
  const ok = await eventually(() => sum((last = runningByNode(c, id))) === NODES, 50_000, 200);
  t.true(ok, `${sum(last)} of ${NODES} running`);
  timings.push(`global service → one task on each of ${NODES} nodes in ${Date.now() - started} ms`);
  t.true([...last.values()].every((n) => n === 1), JSON.stringify([...last.values()]));
  t.true(await eventually(() => [...containersByHost(c, id).values()].every((n) => n === 1), 10_000), 'each node runs one fake container of it');
});

const WEB = NODES * 2;

test.serial('draining 10 nodes moves their tasks to the other nodes', async (t) => {
  t.timeout(60_000);
  const c = cluster!;
  const webId = web!.id;
  const globalId = globalSvc!.id;
  // Two web tasks per node first, so every drained node has several to give up.
  const cur = await getService(c, webId);
  await call((cb) => c.control.UpdateService({ service_id: webId, service_version: cur.meta!.version!, spec: { ...cur.spec!, replicated: { replicas: WEB } } }, cb));
  t.true(await eventually(() => sum(runningByNode(c, webId)) === WEB && sum(containersByHost(c, webId)) === WEB, 30_000, 200), `web scaled to ${WEB}`);
  // The 10 workers with the most web tasks (so something must move).
  const before = runningByNode(c, webId);
  const drained = c.hosts
    .filter((h) => h !== c.manager)
    .map((h) => h.swarm.nodeId!)
    .sort((a, b) => (before.get(b) ?? 0) - (before.get(a) ?? 0))
    .slice(0, 10);
  const moving = drained.reduce((a, id) => a + (before.get(id) ?? 0), 0);
  t.true(moving > 0, 'the drained nodes had web tasks');
  const started = Date.now();
  for (const id of drained) {
    const n = (await call<{ node: Node__Output | null }>((cb) => c.control.GetNode({ node_id: id }, cb))).node!;
    await call((cb) => c.control.UpdateNode({ node_id: id, node_version: n.meta!.version!, spec: { ...n.spec!, availability: 'DRAIN' } }, cb));
  }
  const isDrained = new Set(drained);
  const settled = (): boolean => {
    const w = runningByNode(c, webId);
    const g = runningByNode(c, globalId);
    const wc = containersByHost(c, webId);
    const gc = containersByHost(c, globalId);
    return (
      sum(w) === WEB &&
      sum(g) === NODES - 10 &&
      drained.every((id) => (w.get(id) ?? 0) === 0 && (g.get(id) ?? 0) === 0 && (wc.get(id) ?? 0) === 0 && (gc.get(id) ?? 0) === 0)
    );
  };
  const ok = await eventually(settled, 50_000, 200);
  const w = runningByNode(c, webId);
  t.true(ok, `web ${sum(w)}/${WEB} running, ${drained.reduce((a, id) => a + (w.get(id) ?? 0), 0)} still on drained nodes; global ${sum(runningByNode(c, globalId))}/${NODES - 10}`);
  timings.push(`drain 10 nodes → ${moving} web tasks moved and their global tasks stopped in ${Date.now() - started} ms`);
  // 200 tasks on the 90 nodes left: spread keeps every node at 2 or 3.
  const left = [...w.entries()].filter(([id]) => !isDrained.has(id)).map(([, n]) => n);
  t.true(left.every((n) => n >= 2 && n <= 3), `web per node on the nodes left: ${Math.min(...left)}..${Math.max(...left)}`);
  t.deepEqual(containersByHost(c, webId), w, 'the nodes run what the store says');
  // Every drained node reports DRAIN in the store and keeps its READY state.
  const ns = new Map(nodes(c).map((n) => [n.id, n]));
  for (const id of drained) {
    t.is(ns.get(id)?.spec?.availability, 'DRAIN');
    t.is(ns.get(id)?.status?.state, 'READY');
  }
});

test.serial('10 nodes whose agents stop go Down and their tasks are replaced on the others', async (t) => {
  t.timeout(60_000);
  const c = cluster!;
  const webId = web!.id;
  const globalId = globalSvc!.id;
  const draining = new Set(nodes(c).filter((n) => n.spec?.availability === 'DRAIN').map((n) => n.id));
  const before = runningByNode(c, webId);
  // Ten active workers, each running web tasks: their agents stop (the node dies as far as the managers can tell).
  const victims = c.hosts.filter((h) => h !== c.manager && !draining.has(h.swarm.nodeId!) && (before.get(h.swarm.nodeId!) ?? 0) > 0).slice(0, 10);
  t.is(victims.length, 10);
  const lost = new Set(victims.map((h) => h.swarm.nodeId!));
  const moving = victims.reduce((a, h) => a + (before.get(h.swarm.nodeId!) ?? 0), 0);
  const started = Date.now();
  await Promise.all(victims.map((h) => h.swarm.close()));
  const down = await eventually(() => nodes(c).filter((n) => lost.has(n.id) && n.status?.state === 'DOWN').length === 10, 30_000, 200);
  t.true(down, 'the ten nodes are marked DOWN');
  const downMs = Date.now() - started;
  const ok = await eventually(() => {
    const w = runningByNode(c, webId);
    return sum(w) === WEB && [...lost].every((id) => (w.get(id) ?? 0) === 0);
  }, 30_000, 200);
  const w = runningByNode(c, webId);
  t.true(ok, `web ${sum(w)}/${WEB} running; ${[...lost].reduce((a, id) => a + (w.get(id) ?? 0), 0)} counted on lost nodes`);
  timings.push(`10 agents stopped (1 s heartbeat) → nodes DOWN in ${downMs} ms; ${moving} web tasks replaced at ${Date.now() - started} ms`);
  // The global service keeps one task on each node that is up and active.
  const g = runningByNode(c, globalId);
  t.true(await eventually(() => sum(runningByNode(c, globalId)) === NODES - 20, 10_000), `global ${sum(g)}/${NODES - 20}`);
  // The live nodes really run the replacements.
  t.true(await eventually(() => [...containersByHost(c, webId)].filter(([id]) => !lost.has(id)).reduce((a, [, n]) => a + n, 0) === WEB, 10_000));
});
