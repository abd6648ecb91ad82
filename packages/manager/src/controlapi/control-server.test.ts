// The Control service through real gRPC (a unix socket, insecure) over a
// MemoryStore: every rule checked here is one a user meets from the CLI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Server, ServerCredentials, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { fromServiceError, nopLogger, swarmProto, type Cluster__Output, type Node__Output, type Service__Output, type ServiceSpec, type ShoalError } from '@shoal/api';
import type { ControlClient } from '@shoal/api/gen/shoal/swarm/v1/Control';
import test from 'ava';
import { MemoryStore } from '../store/index.js';
import { node, task } from '../store/test-fixtures.js';
import { ControlServer, type RaftMembers } from './control-server.js';

interface Harness {
  store: MemoryStore;
  client: ControlClient;
  raft: { members: Set<string>; quorumOk: boolean };
  close(): void;
}

async function harness(): Promise<Harness> {
  const store = new MemoryStore();
  const raft = { members: new Set<string>(), quorumOk: true };
  const raftMembers: RaftMembers = {
    managerStatus: (id) => (raft.members.has(id) ? { raft_id: '1', addr: '10.0.0.1:2377', leader: id === 'm1', reachability: 'REACHABLE' } : undefined),
    canRemove: () => raft.quorumOk,
  };
  const server = new Server();
  server.addService(swarmProto().Control.service, new ControlServer(store, { logger: nopLogger, raftMembers }).service());
  const dir = mkdtempSync(join(tmpdir(), 'shoal-control-'));
  const sock = `unix://${join(dir, 'c.sock')}`;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(sock, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  const client = new (swarmProto().Control)(sock, credentials.createInsecure());
  return {
    store,
    client,
    raft,
    close() {
      client.close();
      server.forceShutdown();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function call<T>(start: (cb: (err: ServiceError | null, res?: unknown) => void) => ClientUnaryCall): Promise<T> {
  return new Promise<T>((resolve, reject) => start((err, res) => (err ? reject(fromServiceError(err)) : resolve(res as T))));
}

async function refused(t: { fail(m: string): void }, p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    return err as ShoalError;
  }
  t.fail('the call succeeded');
  throw new Error('unreachable');
}

const spec = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  annotations: { name },
  task: { container: { image: 'busybox:latest', args: ['sleep', '1000'] } },
  replicated: { replicas: 3 },
  ...extra,
});

type ServiceOut = Service__Output;
type NodeOut = Node__Output;

const create = (h: Harness, s: ServiceSpec): Promise<ServiceOut> =>
  call<{ service: ServiceOut }>((cb) => h.client.CreateService({ spec: s }, cb)).then((r) => r.service);

let h: Harness;
test.beforeEach(async () => {
  h = await harness();
});
test.afterEach.always(() => h.close());

test.serial('a created service is stored with spec version 1 and is found by name, ID and ID prefix', async (t) => {
  const s = await create(h, spec('web'));
  t.is(s.spec?.annotations?.name, 'web');
  t.is(s.spec_version?.index, '1');
  for (const ref of ['web', s.id, s.id.slice(0, 5)]) {
    const got = await call<{ service: ServiceOut }>((cb) => h.client.GetService({ service_id: ref }, cb));
    t.is(got.service.id, s.id, ref);
  }
});

test.serial('a service without a name gets a random docker-style one', async (t) => {
  const s = await create(h, spec(''));
  t.regex(s.spec?.annotations?.name ?? '', /^[a-z]+_[a-z]+\d?$/);
});

test.serial('bad specs are refused with a clear error and change nothing', async (t) => {
  const cases: Array<[ServiceSpec, RegExp]> = [
    [spec('-bad-'), /must be valid as a DNS name component/],
    [spec('x'.repeat(64)), /too long, must be 63 characters or less/],
    [spec('c', { task: { container: { image: 'busybox', }, placement: { constraints: ['node.rol==manager'] } } }), /Invalid constraint "node.rol==manager": unknown key/],
    [spec('c', { task: { container: { image: 'busybox' }, placement: { constraints: ['node.role'] } } }), /it has no operator/],
    [spec('p', { task: { container: { image: 'busybox' }, placement: { preferences: [{ spread: { spread_descriptor: 'node.zone' } }] } } }), /Invalid placement preference/],
    [spec('i', { task: { container: { image: 'Busy Box' } } }), /is not a valid repository\/tag/],
    [spec('i', { task: { container: { image: '' } } }), /image reference must be provided/],
    [spec('r', { task: { container: { image: 'busybox' }, resources: { reservations: { memory_bytes: 1000 } } } }), /invalid memory value 1000: Must be at least 4MiB/],
    [spec('r', { task: { container: { image: 'busybox' }, resources: { limits: { nano_cpus: 10 } } } }), /invalid cpu value/],
    [spec('d', { task: { container: { image: 'busybox' }, restart: { delay: { seconds: -1 } } } }), /restart-delay cannot be negative/],
    [spec('m', { task: { container: { image: 'busybox', mounts: [{ type: 'BIND', source: 'rel', target: '/x' }] } } }), /bind mount source, must be an absolute path/],
    [spec('m', { task: { container: { image: 'busybox', mounts: [{ type: 'VOLUME', target: '/x' }, { type: 'TMPFS', target: '/x' }] } } }), /duplicate mount point: \/x/],
    [spec('e', { endpoint: { ports: [{ target_port: 80, published_port: 8080 }, { target_port: 81, published_port: 8080 }] } }), /duplicate published ports/],
    [spec('e', { endpoint: { ports: [{ target_port: 0 }] } }), /invalid target port 0/],
    [{ annotations: { name: 'nomode' }, task: { container: { image: 'busybox' } } }, /has no mode/],
    [spec('g', { replicated: undefined, global: {}, task: { container: { image: 'busybox' }, placement: { max_replicas: 2 } } }), /replicas-max-per-node can only be used with replicated or replicated-job mode/],
    [spec('j', { replicated: undefined, replicated_job: { max_concurrent: 5, total_completions: 2 } }), /cannot be greater than the total completions/],
  ];
  for (const [s, re] of cases) {
    const err = await refused(t, create(h, s));
    t.is(err.code, 'InvalidArgument', String(re));
    t.regex(err.message, re);
  }
  t.deepEqual(h.store.view((tx) => tx.services.find()), []);
});

test.serial('a second service with a taken name is refused as a name conflict', async (t) => {
  await create(h, spec('web'));
  const err = await refused(t, create(h, spec('WEB')));
  t.is(err.code, 'AlreadyExists');
  t.regex(err.message, /name conflicts with an existing object/);
  t.is(h.store.view((tx) => tx.services.find()).length, 1);
});

test.serial('an ingress port held by another service is refused', async (t) => {
  await create(h, spec('a', { endpoint: { ports: [{ target_port: 80, published_port: 8080 }] } }));
  const err = await refused(t, create(h, spec('b', { endpoint: { ports: [{ target_port: 80, published_port: 8080 }] } })));
  t.regex(err.message, /port '8080' is already in use by service 'a'/);
  await t.notThrowsAsync(create(h, spec('c', { endpoint: { ports: [{ target_port: 80, published_port: 8080, protocol: 'UDP' }] } })));
});

test.serial('update bumps spec_version, keeps the previous spec, and needs the current version', async (t) => {
  const s = await create(h, spec('web'));
  const next = spec('web', { replicated: { replicas: 5 } });
  const r = await call<{ service: ServiceOut }>((cb) => h.client.UpdateService({ service_id: 'web', service_version: s.meta?.version, spec: next }, cb));
  t.is(r.service.spec?.replicated?.replicas, '5');
  t.is(r.service.spec_version?.index, '2');
  t.is(r.service.previous_spec?.replicated?.replicas, '3');
  // The same write again is based on a stale version.
  const stale = await refused(t, call((cb) => h.client.UpdateService({ service_id: 'web', service_version: s.meta?.version, spec: spec('web', { replicated: { replicas: 7 } }) }, cb)));
  t.is(stale.code, 'Conflict');
  // An unchanged spec writes nothing and keeps the version.
  const same = await call<{ service: ServiceOut }>((cb) => h.client.UpdateService({ service_id: 'web', service_version: r.service.meta?.version, spec: next }, cb));
  t.is(same.service.spec_version?.index, '2');
  // Rollback swaps back.
  const back = await call<{ service: ServiceOut }>((cb) =>
    h.client.UpdateService({ service_id: 'web', service_version: r.service.meta?.version, rollback: 'PREVIOUS' }, cb),
  );
  t.is(back.service.spec?.replicated?.replicas, '3');
  t.is(back.service.spec_version?.index, '3');
  const noVersion = await refused(t, call((cb) => h.client.UpdateService({ service_id: 'web', spec: next }, cb)));
  t.is(noVersion.code, 'InvalidArgument');
});

test.serial('changing a service’s mode or name is refused; a negative-free spec check runs on update too', async (t) => {
  const s = await create(h, spec('web'));
  const v = s.meta?.version;
  const mode = await refused(t, call((cb) => h.client.UpdateService({ service_id: s.id, service_version: v, spec: spec('web', { replicated: undefined, global: {} }) }, cb)));
  t.regex(mode.message, /service mode change is not allowed/);
  const rename = await refused(t, call((cb) => h.client.UpdateService({ service_id: s.id, service_version: v, spec: spec('other') }, cb)));
  t.regex(rename.message, /renaming services is not supported/);
  const bad = await refused(t, call((cb) => h.client.UpdateService({ service_id: s.id, service_version: v, spec: spec('web', { task: { container: { image: 'busybox' }, placement: { constraints: ['nope'] } } }) }, cb)));
  t.is(bad.code, 'InvalidArgument');
  const rollback = await refused(t, call((cb) => h.client.UpdateService({ service_id: s.id, service_version: v, rollback: 'PREVIOUS' }, cb)));
  t.is(rollback.code, 'FailedPrecondition');
  t.is(h.store.view((tx) => tx.services.get(s.id))?.spec_version?.index, '1');
});

test.serial('unknown services and nodes are NotFound with their reference in the message', async (t) => {
  const e1 = await refused(t, call((cb) => h.client.GetService({ service_id: 'nope' }, cb)));
  t.is(e1.code, 'NotFound');
  t.is(e1.message, 'No such service: nope');
  const e2 = await refused(t, call((cb) => h.client.RemoveService({ service_id: 'nope' }, cb)));
  t.is(e2.code, 'NotFound');
  const e3 = await refused(t, call((cb) => h.client.GetNode({ node_id: 'ghost' }, cb)));
  t.is(e3.message, 'No such node: ghost');
});

test.serial('remove deletes the service; list filters by name, label and mode', async (t) => {
  await create(h, spec('a', { annotations: { name: 'a', labels: { tier: 'front' } } }));
  await create(h, spec('b', { replicated: undefined, global: {} }));
  const list = (filters: object) =>
    call<{ services: ServiceOut[] }>((cb) => h.client.ListServices({ filters }, cb)).then((r) => r.services.map((s) => s.spec?.annotations?.name).sort());
  t.deepEqual(await list({}), ['a', 'b']);
  t.deepEqual(await list({ labels: { tier: '' } }), ['a']);
  t.deepEqual(await list({ modes: ['global'] }), ['b']);
  t.deepEqual(await list({ names: ['B'] }), ['b']);
  await call((cb) => h.client.RemoveService({ service_id: 'a' }, cb));
  t.deepEqual(await list({}), ['b']);
});

test.serial('tasks are listed by service, node and desired state, and fetched by ID prefix', async (t) => {
  await h.store.update((tx) => {
    tx.tasks.create(task('t1aaa', 's1', 1, { nodeId: 'n1' }));
    tx.tasks.create(task('t2bbb', 's1', 2, { nodeId: 'n2', desired: 'SHUTDOWN' }));
    tx.tasks.create(task('t3ccc', 's2', 1, { nodeId: 'n1' }));
  });
  const ids = (filters: object) =>
    call<{ tasks: Array<{ id: string }> }>((cb) => h.client.ListTasks({ filters }, cb)).then((r) => r.tasks.map((x) => x.id));
  t.deepEqual(await ids({ service_ids: ['s1'] }), ['t1aaa', 't2bbb']);
  t.deepEqual(await ids({ node_ids: ['n1'] }), ['t1aaa', 't3ccc']);
  t.deepEqual(await ids({ service_ids: ['s1'], desired_states: ['RUNNING'] }), ['t1aaa']);
  const got = await call<{ task: { id: string } }>((cb) => h.client.GetTask({ task_id: 't2' }, cb));
  t.is(got.task.id, 't2bbb');
  const amb = await refused(t, call((cb) => h.client.GetTask({ task_id: 't' }, cb)));
  t.regex(amb.message, /ambiguous/);
});

async function addNodes(): Promise<void> {
  await h.store.update((tx) => {
    tx.nodes.create(node('m1', 'alpha', 'MANAGER'));
    tx.nodes.create(node('w1', 'beta'));
  });
  h.raft.members.add('m1');
}

const getNode = (ref: string): Promise<NodeOut> => call<{ node: NodeOut }>((cb) => h.client.GetNode({ node_id: ref }, cb)).then((r) => r.node);

test.serial('nodes carry raft manager status; update changes availability and labels by hostname', async (t) => {
  await addNodes();
  const m = await getNode('alpha');
  t.is(m.manager_status?.leader, true);
  t.is(m.manager_status?.reachability, 'REACHABLE');
  const w = await getNode('beta');
  t.is(w.manager_status, null);
  const r = await call<{ node: NodeOut }>((cb) =>
    h.client.UpdateNode({ node_id: 'beta', node_version: w.meta?.version, spec: { ...w.spec, availability: 'DRAIN', annotations: { labels: { zone: 'a' } } } }, cb),
  );
  t.is(r.node.spec?.availability, 'DRAIN');
  t.deepEqual(r.node.spec?.annotations?.labels, { zone: 'a' });
  const nodes = await call<{ nodes: NodeOut[] }>((cb) => h.client.ListNodes({ filters: { roles: ['MANAGER'] } }, cb));
  t.deepEqual(nodes.nodes.map((n) => n.id), ['m1']);
});

test.serial('the last manager cannot be demoted; another can once a second manager exists', async (t) => {
  await addNodes();
  const m = await getNode('m1');
  const err = await refused(t, call((cb) => h.client.UpdateNode({ node_id: 'm1', node_version: m.meta?.version, spec: { ...m.spec, desired_role: 'WORKER' } }, cb)));
  t.is(err.code, 'FailedPrecondition');
  t.is(err.message, 'attempting to demote the last manager of the swarm');
  t.is((await getNode('m1')).spec?.desired_role, 'MANAGER');
  // Promote w1, then demote m1.
  const w = await getNode('w1');
  await call((cb) => h.client.UpdateNode({ node_id: 'w1', node_version: w.meta?.version, spec: { ...w.spec, desired_role: 'MANAGER' } }, cb));
  h.raft.quorumOk = false;
  const quorum = await refused(t, call((cb) => h.client.UpdateNode({ node_id: 'm1', node_version: m.meta?.version, spec: { ...m.spec, desired_role: 'WORKER' } }, cb)));
  t.regex(quorum.message, /loss of quorum/);
  h.raft.quorumOk = true;
  const r = await call<{ node: NodeOut }>((cb) => h.client.UpdateNode({ node_id: 'm1', node_version: m.meta?.version, spec: { ...m.spec, desired_role: 'WORKER' } }, cb));
  t.is(r.node.spec?.desired_role, 'WORKER');
});

test.serial('a node that is up, or a manager, is not removed; a down worker is, and force removes an up one', async (t) => {
  await addNodes();
  const up = await refused(t, call((cb) => h.client.RemoveNode({ node_id: 'w1' }, cb)));
  t.is(up.code, 'FailedPrecondition');
  t.regex(up.message, /is not down and can't be removed/);
  const mgr = await refused(t, call((cb) => h.client.RemoveNode({ node_id: 'm1', force: true }, cb)));
  t.regex(mgr.message, /must be demoted to worker before removal/);
  t.is(h.store.view((tx) => tx.nodes.find()).length, 2);
  await h.store.update((tx) => {
    tx.clusters.create({ id: 'c0', spec: { annotations: { name: 'default' } } });
  });
  await call((cb) => h.client.RemoveNode({ node_id: 'beta', force: true }, cb));
  t.deepEqual(h.store.view((tx) => tx.nodes.find()).map((n) => n.id), ['m1']);
  // Remembered as removed, so no later leader lets its certificate back in.
  t.deepEqual(h.store.view((tx) => tx.clusters.get('c0')?.removed_nodes.map((r) => r.id)), ['w1']);
});

test.serial('update cluster rotates the asked join token only, and the CA key never leaves', async (t) => {
  const hash = `sha256:${'ab'.repeat(32)}`;
  await h.store.update((tx) => {
    tx.clusters.create({
      id: 'c1',
      spec: { annotations: { name: 'default' } },
      root_ca: { ca_cert: Buffer.from('cert'), ca_key: Buffer.from('secret-key'), ca_cert_hash: hash, join_tokens: { worker: 'W0', manager: 'M0' } },
    });
  });
  const got = await call<{ cluster: Cluster__Output }>((cb) => h.client.GetCluster({ cluster_id: 'default' }, cb));
  t.is(got.cluster.root_ca?.ca_key.length, 0);
  const r = await call<{ cluster: Cluster__Output }>((cb) =>
    h.client.UpdateCluster({ cluster_id: 'c1', cluster_version: got.cluster.meta?.version, spec: got.cluster.spec, rotation: { worker_join_token: true } }, cb),
  );
  t.not(r.cluster.root_ca?.join_tokens?.worker, 'W0');
  t.regex(r.cluster.root_ca?.join_tokens?.worker ?? '', /^SWMTKN-1-/);
  t.is(r.cluster.root_ca?.join_tokens?.manager, 'M0');
  t.is(h.store.view((tx) => tx.clusters.get('c1'))?.root_ca?.ca_key.toString(), 'secret-key');
  const bad = await refused(t, call((cb) =>
    h.client.UpdateCluster({ cluster_id: 'c1', cluster_version: r.cluster.meta?.version, spec: { orchestration: { task_history_retention_limit: -1 } } }, cb),
  ));
  t.is(bad.code, 'InvalidArgument');
});
