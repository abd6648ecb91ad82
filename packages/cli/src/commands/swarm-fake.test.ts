// `node` and `service` commands against an in-test fake Control server on a
// unix socket: request mapping, docker's tables and progress, exit codes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { failedPrecondition, notFound, swarmProto, toServiceError, type Node, type Service, type ServiceSpec__Output, type Task } from '@shoal/api';
import test from 'ava';
import { main } from '../main.js';

const now = Math.floor(Date.now() / 1000);
const ts = (agoSeconds: number) => ({ seconds: String(now - agoSeconds), nanos: 0 });

interface State {
  nodes: Node[];
  services: Service[];
  tasks: Task[];
  requests: Array<{ method: string; req: unknown }>;
  /** Called on each ListTasks for a service, to let tasks progress. */
  onPoll?: (serviceId: string, polls: number) => void;
  polls: number;
  notManager: boolean;
}

const state: State = { nodes: [], services: [], tasks: [], requests: [], polls: 0, notManager: false };

function reset(): void {
  state.requests = [];
  state.polls = 0;
  state.onPoll = undefined;
  state.notManager = false;
  state.nodes = [
    {
      id: 'n1aaaaaaaaaaaaaaaaaaaaaaa',
      role: 'MANAGER',
      spec: { desired_role: 'MANAGER', availability: 'ACTIVE', membership: 'ACCEPTED', annotations: { labels: {} } },
      description: { hostname: 'manager1', engine: { engine_version: '0.1.0' }, platform: { os: 'linux', architecture: 'x86_64' } },
      status: { state: 'READY', addr: '10.0.0.1' },
      manager_status: { leader: true, reachability: 'REACHABLE', addr: '10.0.0.1:2377' },
      meta: { version: { index: 7 } },
    },
    {
      id: 'n2bbbbbbbbbbbbbbbbbbbbbbb',
      role: 'WORKER',
      spec: { desired_role: 'WORKER', availability: 'DRAIN', membership: 'ACCEPTED', annotations: { labels: { zone: 'a' } } },
      description: { hostname: 'worker1', engine: { engine_version: '0.1.0' } },
      status: { state: 'DOWN' },
      meta: { version: { index: 8 } },
    },
  ];
  state.services = [
    {
      id: 's1webwebwebwebwebwebwebwe',
      spec: { annotations: { name: 'web' }, task: { container: { image: 'nginx:latest' } }, replicated: { replicas: 3 }, endpoint: { ports: [{ target_port: 80, published_port: 8080 }] } },
      spec_version: { index: 1 },
      meta: { version: { index: 10 } },
    },
    {
      id: 's2globalglobalglobalgloba',
      spec: { annotations: { name: 'agent' }, task: { container: { image: 'busybox:latest' } }, global: {} },
      spec_version: { index: 1 },
      meta: { version: { index: 11 } },
    },
  ];
  const task = (id: string, slot: number, state: Task['desired_state'], observed: Task['desired_state'], ago: number, err = ''): Task => ({
    id,
    service_id: 's1webwebwebwebwebwebwebwe',
    slot,
    node_id: 'n1aaaaaaaaaaaaaaaaaaaaaaa',
    desired_state: state,
    spec_version: { index: 1 },
    spec: { container: { image: 'nginx:latest' } },
    status: { state: observed, timestamp: ts(ago), err },
    meta: { created_at: ts(ago) },
  });
  state.tasks = [
    task('t1aaaaaaaaaaaaaaaaaaaaaaa', 1, 'RUNNING', 'RUNNING', 120),
    task('t2bbbbbbbbbbbbbbbbbbbbbbb', 2, 'RUNNING', 'RUNNING', 125),
    task('t0zzzzzzzzzzzzzzzzzzzzzzz', 2, 'SHUTDOWN', 'FAILED', 300, 'task: non-zero exit (1)'),
    { ...task('t3ccccccccccccccccccccccc', 3, 'RUNNING', 'PENDING', 5, 'no suitable node (insufficient memory on 2 nodes)'), node_id: '' },
  ];
}

function findService(ref: string): Service | undefined {
  return state.services.find((s) => s.id === ref || s.spec?.annotations?.name === ref || (ref.length > 0 && s.id?.startsWith(ref)));
}

type Req = Record<string, unknown>;

function handler(method: string, fn: (req: Req) => unknown) {
  return (call: ServerUnaryCall<Req, unknown>, cb: sendUnaryData<unknown>): void => {
    state.requests.push({ method, req: call.request });
    if (state.notManager) {
      cb(toServiceError(failedPrecondition('This node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again.')));
      return;
    }
    try {
      cb(null, fn(call.request));
    } catch (err) {
      cb(toServiceError(err));
    }
  };
}

async function startFake(): Promise<{ host: string; server: Server }> {
  const proto = swarmProto();
  const server = new Server();
  const unimplemented = (_: unknown, cb: sendUnaryData<unknown>): void => cb({ code: status.UNIMPLEMENTED, details: 'no' });
  const base = Object.fromEntries(Object.keys(proto.Control.service).map((k) => [k, unimplemented]));
  server.addService(proto.Control.service, {
    ...base,
    ListNodes: handler('ListNodes', () => ({ nodes: state.nodes })),
    GetNode: handler('GetNode', (r) => {
      const n = state.nodes.find((x) => x.id === r.node_id || x.description?.hostname === r.node_id);
      if (!n) throw notFound(`No such node: ${String(r.node_id)}`);
      return { node: n };
    }),
    UpdateNode: handler('UpdateNode', (r) => {
      const spec = r.spec as Node['spec'];
      if (spec?.desired_role === 'WORKER' && r.node_id === 'n1aaaaaaaaaaaaaaaaaaaaaaa') throw failedPrecondition('attempting to demote the last manager of the swarm');
      const n = state.nodes.find((x) => x.id === r.node_id);
      return { node: { ...n, spec } };
    }),
    RemoveNode: handler('RemoveNode', (r) => {
      if (r.node_id === 'manager1') throw failedPrecondition('node n1 is not down and can\'t be removed');
      return {};
    }),
    ListServices: handler('ListServices', () => ({ services: state.services })),
    GetService: handler('GetService', (r) => {
      const s = findService(String(r.service_id));
      if (!s) throw notFound(`No such service: ${String(r.service_id)}`);
      return { service: s };
    }),
    CreateService: handler('CreateService', (r) => {
      const spec = r.spec as ServiceSpec__Output;
      const s: Service = { id: 'snewnewnewnewnewnewnewnew', spec, spec_version: { index: 1 }, meta: { version: { index: 20 } } };
      state.services.push(s);
      return { service: s };
    }),
    UpdateService: handler('UpdateService', (r) => {
      const s = findService(String(r.service_id));
      if (!s) throw notFound('No such service');
      s.spec = r.spec as ServiceSpec__Output;
      s.spec_version = { index: 2 };
      return { service: s };
    }),
    RemoveService: handler('RemoveService', (r) => {
      if (!findService(String(r.service_id))) throw notFound(`No such service: ${String(r.service_id)}`);
      return {};
    }),
    ListTasks: handler('ListTasks', (r) => {
      const ids = ((r.filters as { service_ids?: string[] } | null)?.service_ids ?? []);
      if (ids.length === 1 && state.onPoll) state.onPoll(ids[0] ?? '', ++state.polls);
      const nodeIds = ((r.filters as { node_ids?: string[] } | null)?.node_ids ?? []);
      return {
        tasks: state.tasks.filter((t) => (ids.length === 0 || ids.includes(t.service_id ?? '')) && (nodeIds.length === 0 || nodeIds.includes(t.node_id ?? ''))),
      };
    }),
  });
  server.addService(proto.Swarm.service, {
    ...Object.fromEntries(Object.keys(proto.Swarm.service).map((k) => [k, unimplemented])),
    Inspect: (_c: unknown, cb: sendUnaryData<unknown>) => cb(null, { json: JSON.stringify({ NodeID: 'n1aaaaaaaaaaaaaaaaaaaaaaa' }) }),
  });
  const sock = join(mkdtempSync(join(tmpdir(), 'shoal-fake-swarm-')), 'd.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${sock}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return { host: `unix://${sock}`, server };
}

async function shoal(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdin: new PassThrough(), stdout, stderr, env: { SHOAL_HOST: fake.host, ...env } });
  return { code, out, err };
}

const lastRequest = (method: string): Req => state.requests.filter((r) => r.method === method).at(-1)?.req as Req;

let fake: { host: string; server: Server };
test.before(async () => {
  fake = await startFake();
});
test.beforeEach(reset);
test.after.always(() => fake.server.forceShutdown());

test.serial('node ls shows docker’s table: self marked with *, manager status, sorted by hostname', async (t) => {
  const r = await shoal(['node', 'ls']);
  t.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  t.regex(lines[0] ?? '', /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$/);
  t.regex(lines[1] ?? '', /^n1a+ \*\s+manager1\s+Ready\s+Active\s+Leader\s+0\.1\.0$/);
  t.regex(lines[2] ?? '', /^n2b+\s+worker1\s+Down\s+Drain\s+0\.1\.0$/);
  const q = await shoal(['node', 'ls', '-q', '--filter', 'role=worker']);
  t.is(q.out, 'n2bbbbbbbbbbbbbbbbbbbbbbb\n');
});

test.serial('node inspect prints docker-shaped JSON, --pretty a summary; self resolves through the daemon', async (t) => {
  const r = await shoal(['node', 'inspect', '--format', '{{.Description.Hostname}} {{.Spec.Role}} {{.ManagerStatus.Reachability}}', 'self']);
  t.is(r.out, 'manager1 manager reachable\n');
  const p = await shoal(['node', 'inspect', '--pretty', 'manager1']);
  t.regex(p.out, /Hostname:\t\tmanager1/);
  t.regex(p.out, /Leader:\t\tYes/);
  const missing = await shoal(['node', 'inspect', 'ghost']);
  t.is(missing.code, 1);
  t.regex(missing.err, /No such node: ghost/);
});

test.serial('node update sends the changed spec with the version read', async (t) => {
  const r = await shoal(['node', 'update', '--availability', 'drain', '--label-add', 'zone=b', '--label-add', 'ssd', 'manager1']);
  t.is(r.code, 0, r.err);
  t.is(r.out, 'manager1\n');
  const req = lastRequest('UpdateNode') as { node_id: string; node_version: { index: string }; spec: { availability: string; annotations: { labels: Record<string, string> } } };
  t.is(req.node_id, 'n1aaaaaaaaaaaaaaaaaaaaaaa');
  t.is(req.node_version.index, '7');
  t.is(req.spec.availability, 'DRAIN');
  t.deepEqual(req.spec.annotations.labels, { zone: 'b', ssd: '' });
  const bad = await shoal(['node', 'update', '--availability', 'sleepy', 'manager1']);
  t.is(bad.code, 125);
  t.regex(bad.err, /invalid availability/);
});

test.serial('demoting the last manager prints the daemon’s refusal and exits 1; promote of a manager says so', async (t) => {
  const r = await shoal(['node', 'demote', 'manager1']);
  t.is(r.code, 1);
  t.is(r.err, 'Error response from daemon: attempting to demote the last manager of the swarm\n');
  const p = await shoal(['node', 'promote', 'manager1']);
  t.is(p.out, 'Node manager1 is already a manager.\n');
  const d = await shoal(['node', 'demote', 'worker1']);
  t.is(d.out, 'Node worker1 is already a worker.\n');
});

test.serial('node rm of an up node prints the refusal; a non-manager daemon’s error is printed as is', async (t) => {
  const r = await shoal(['node', 'rm', 'manager1']);
  t.is(r.code, 1);
  t.regex(r.err, /is not down and can't be removed/);
  state.notManager = true;
  const n = await shoal(['node', 'ls']);
  t.is(n.code, 1);
  t.is(n.err, 'Error response from daemon: This node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again.\n');
});

test.serial('service ls shows running/desired replicas, mode, image and published ports', async (t) => {
  const r = await shoal(['service', 'ls']);
  t.is(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  t.regex(lines[0] ?? '', /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
  t.regex(lines[1] ?? '', /^s2globalglob\s+agent\s+global\s+0\/0\s+busybox:latest\s*$/);
  t.regex(lines[2] ?? '', /^s1webwebwebw\s+web\s+replicated\s+2\/3\s+nginx:latest\s+\*:8080->80\/tcp$/);
});

test.serial('service ps shows slots, history under " \\_ ", docker’s current state and the scheduler’s error', async (t) => {
  const r = await shoal(['service', 'ps', 'web']);
  t.is(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  t.regex(lines[0] ?? '', /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
  t.regex(lines[1] ?? '', /^t1aaaaaaaaaa\s+web\.1\s+nginx:latest\s+manager1\s+Running\s+Running 2 minutes ago\s*$/);
  t.regex(lines[2] ?? '', /^t2bbbbbbbbbb\s+web\.2\s+.*Running 2 minutes ago/);
  t.regex(lines[3] ?? '', /^t0zzzzzzzzzz\s+ \\_ web\.2\s+.*Shutdown\s+Failed 5 minutes ago\s+"task: non-zero exit \(1\)"/);
  t.regex(lines[4] ?? '', /^t3cccccccccc\s+web\.3\s+nginx:latest\s+Running\s+Pending \d+ seconds ago\s+"no suitable node \(insufficien…"/);
  const full = await shoal(['service', 'ps', '--no-trunc', '-f', 'desired-state=running', 'web']);
  t.regex(full.out, /"no suitable node \(insufficient memory on 2 nodes\)"/);
  t.notRegex(full.out, /t0zzz/);
  const q = await shoal(['service', 'ps', '-q', 'web']);
  t.is(q.out.split('\n').length, 5);
  const none = await shoal(['service', 'ps', 'nope']);
  t.is(none.code, 1);
});

test.serial('service create maps every flag to the spec and waits for the replicas, showing progress', async (t) => {
  state.onPoll = (id, polls) => {
    const s = state.services.find((x) => x.id === id);
    if (!s) return;
    state.tasks = state.tasks.filter((x) => x.service_id !== id);
    for (let slot = 1; slot <= 2; slot++) {
      state.tasks.push({
        id: `new${slot}`,
        service_id: id,
        slot,
        desired_state: 'RUNNING',
        spec_version: { index: 1 },
        status: { state: polls >= 2 || slot === 1 ? 'RUNNING' : 'PREPARING' },
        meta: { created_at: ts(1) },
      });
    }
  };
  const r = await shoal([
    'service', 'create', '--name', 'api', '--replicas', '2', '--constraint', 'node.role==worker', '--placement-pref', 'spread=node.labels.zone',
    '--reserve-cpu', '0.5', '--limit-memory', '256m', '--limit-pids', '100', '--restart-condition', 'on-failure', '--restart-delay', '2s',
    '--restart-max-attempts', '4', '--restart-window', '1m', '-e', 'A=1', '--label', 'tier=api', '--container-label', 'c=1',
    '--mount', 'type=tmpfs,target=/tmp', '--publish', 'mode=host,target=80,published=8081', '-p', '9000:90/udp', '--hostname', 'h',
    '--user', 'nobody', '--workdir', '/w', '--entrypoint', '/bin/sh -c', '--stop-signal', 'SIGINT', '--stop-grace-period', '30s',
    '--replicas-max-per-node', '1', 'busybox', 'echo', 'hi', '-n',
  ]);
  t.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  t.is(lines[0], 'snewnewnewnewnewnewnewnew');
  t.true(lines.includes('overall progress: 1 out of 2 tasks'));
  t.true(lines.includes('2/2: preparing'));
  t.true(lines.includes('overall progress: 2 out of 2 tasks'));
  t.true(lines.includes('2/2: running'));
  t.true(lines.includes('verify: Service converged'));
  const spec = (lastRequest('CreateService') as { spec: ServiceSpec__Output }).spec;
  t.is(spec.annotations?.name, 'api');
  t.deepEqual(spec.annotations?.labels, { tier: 'api' });
  t.is(spec.replicated?.replicas, '2');
  const task = spec.task;
  t.deepEqual(task?.container?.args, ['echo', 'hi', '-n']);
  t.deepEqual(task?.container?.command, ['/bin/sh', '-c']);
  t.deepEqual(task?.container?.env, ['A=1']);
  t.deepEqual(task?.container?.labels, { c: '1' });
  t.is(task?.container?.mounts[0]?.type, 'TMPFS');
  t.is(task?.container?.hostname, 'h');
  t.is(task?.container?.user, 'nobody');
  t.is(task?.container?.dir, '/w');
  t.is(task?.container?.stop_signal, 'SIGINT');
  t.is(task?.container?.stop_grace_period?.seconds, '30');
  t.deepEqual(task?.placement?.constraints, ['node.role==worker']);
  t.is(task?.placement?.preferences[0]?.spread?.spread_descriptor, 'node.labels.zone');
  t.is(task?.placement?.max_replicas, '1');
  t.is(task?.resources?.reservations?.nano_cpus, '500000000');
  t.is(task?.resources?.limits?.memory_bytes, String(256 * 1024 * 1024));
  t.is(task?.resources?.limits?.pids, '100');
  t.is(task?.restart?.condition, 'ON_FAILURE');
  t.is(task?.restart?.delay?.seconds, '2');
  t.is(task?.restart?.max_attempts, '4');
  t.is(task?.restart?.window?.seconds, '60');
  t.deepEqual(
    spec.endpoint?.ports.map((p) => [p.publish_mode, p.target_port, p.published_port, p.protocol]),
    [['HOST', 80, 8081, 'TCP'], ['INGRESS', 90, 9000, 'UDP']],
  );
});

test.serial('service create exits 1 with the tasks’ error when they keep failing; -d returns at once', async (t) => {
  state.onPoll = (id) => {
    state.tasks = [1, 2, 3].map((i) => ({
      id: `f${i}`,
      service_id: id,
      slot: 1,
      desired_state: 'SHUTDOWN',
      spec_version: { index: 1 },
      status: { state: 'FAILED', err: 'task: non-zero exit (2)' },
      meta: { created_at: ts(i) },
    }));
  };
  const r = await shoal(['service', 'create', '--name', 'bad', 'busybox', 'false']);
  t.is(r.code, 1);
  t.regex(r.err, /service bad: tasks keep failing: task: non-zero exit \(2\)/);
  state.polls = 0;
  const d = await shoal(['service', 'create', '-d', '--name', 'bad2', 'busybox']);
  t.is(d.code, 0);
  t.is(state.polls, 0);
});

test.serial('bad create flags are usage errors before any request', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--mode', 'global', '--replicas', '2'], /replicas can only be used with replicated or replicated-job mode/],
    [['--mode', 'sideways'], /invalid mode "sideways"/],
    [['--replicas', '-1'], /invalid argument "-1" for "--replicas" flag/],
    [['--replicas', 'x'], /invalid argument "x" for "--replicas" flag/],
    [['--max-concurrent', '2'], /max-concurrent can only be used with replicated-job mode/],
    [['--restart-delay', '5 minutes'], /time: invalid duration/],
    [['--placement-pref', 'pack=node.labels.a'], /only spread is supported/],
    [['--publish', 'mode=both,target=80'], /invalid publish mode/],
    [['--restart-condition', 'sometimes'], /invalid restart condition/],
  ];
  for (const [flags, re] of cases) {
    const r = await shoal(['service', 'create', ...flags, 'busybox']);
    t.is(r.code, 125, flags.join(' '));
    t.regex(r.err, re);
  }
  t.is(state.requests.filter((x) => x.method === 'CreateService').length, 0);
});

test.serial('scale sets replicas, refuses global services and bad specifiers', async (t) => {
  const r = await shoal(['service', 'scale', '-d', 'web=5']);
  t.is(r.code, 0, r.err);
  t.is(r.out, 'web scaled to 5\n');
  const req = lastRequest('UpdateService') as { service_version: { index: string }; spec: ServiceSpec__Output };
  t.is(req.spec.replicated?.replicas, '5');
  t.is(req.service_version.index, '10');
  const g = await shoal(['service', 'scale', '-d', 'agent=2']);
  t.is(g.code, 1);
  t.is(g.err, 'agent: scale can only be used with replicated or replicated-job mode\n');
  const bad = await shoal(['service', 'scale', 'web']);
  t.is(bad.code, 125);
  t.regex(bad.err, /invalid scale specifier 'web'/);
  const neg = await shoal(['service', 'scale', 'web=-1']);
  t.is(neg.code, 125);
});

test.serial('update applies add/rm flags to the current spec, --force bumps force_update', async (t) => {
  const svc = state.services[0]!;
  svc.spec = {
    ...svc.spec,
    annotations: { name: 'web', labels: { a: '1', b: '2' } },
    task: { container: { image: 'nginx:latest', env: ['X=1', 'Y=2'] }, placement: { constraints: ['node.role==worker'] } },
  };
  const r = await shoal([
    'service', 'update', '-d', '--image', 'nginx:1.25', '--env-add', 'Y=3', '--env-rm', 'X', '--label-add', 'c=3', '--label-rm', 'a',
    '--constraint-rm', 'node.role==worker', '--constraint-add', 'node.labels.zone==a', '--replicas', '4', '--force', 'web',
  ]);
  t.is(r.code, 0, r.err);
  t.is(r.out, 'web\n');
  const spec = (lastRequest('UpdateService') as { spec: ServiceSpec__Output }).spec;
  t.is(spec.task?.container?.image, 'nginx:1.25');
  t.deepEqual(spec.task?.container?.env, ['Y=3']);
  t.deepEqual(spec.annotations?.labels, { b: '2', c: '3' });
  t.deepEqual(spec.task?.placement?.constraints, ['node.labels.zone==a']);
  t.is(spec.replicated?.replicas, '4');
  t.is(spec.task?.force_update, '1');
});

test.serial('service inspect prints docker-shaped JSON and --pretty; rm prints names and reports unknown ones', async (t) => {
  const r = await shoal(['service', 'inspect', '--format', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}}', 'web']);
  t.is(r.out, 'web 3 nginx:latest\n');
  const p = await shoal(['service', 'inspect', '--pretty', 'web']);
  t.regex(p.out, /Service Mode:\tReplicated\n Replicas:\t3/);
  t.regex(p.out, /PublishedPort = 8080/);
  const rm = await shoal(['service', 'rm', 'web', 'nope']);
  t.is(rm.code, 1);
  t.is(rm.out, 'web\n');
  t.is(rm.err, 'Error response from daemon: No such service: nope\n');
});
