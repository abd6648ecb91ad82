// A swarm of real `shoald`s for end-to-end tests: one host per node (its own
// network namespace and hostname) on a lab LAN, the first node initialises the
// swarm, the other managers and the workers join with the right tokens, and
// startSwarm returns once `node ls` on the leader shows every node Ready.
// Helpers read what a user sees: `node ls`, `service ls/ps`, `ps` on each host.
import { Lab, eventually, withDaemon, type Daemon, type LabHost, type Teardown } from './harness.js';

export { eventually } from './harness.js';

export interface SwarmOptions {
  /** Managers, the first one initialises the swarm (default 1). */
  managers?: number;
  /** Workers (default 0). */
  workers?: number;
  /** Extra environment for every shoald (added to fast raft ticks). */
  env?: Record<string, string>;
  /** Extra `swarm init` flags, e.g. ['--dispatcher-heartbeat', '1s']. */
  initArgs?: string[];
}

export interface SwarmNode {
  /** The node's hostname: m1, m2, … for managers, w1, w2, … for workers (what NODE columns show). */
  name: string;
  role: 'manager' | 'worker';
  d: Daemon;
  host: LabHost;
  /** The swarm node ID (filled in once the node is in `node ls`). */
  id: string;
}

/** Fast elections and heartbeats, so tests do not wait on production timers. */
export const SWARM_ENV: Record<string, string> = { SHOAL_RAFT_TICK_MS: '50' };

export class Swarm {
  readonly nodes: SwarmNode[] = [];
  private workerCount = 0;
  private managerCount = 0;

  constructor(
    readonly t: Teardown,
    readonly lab: Lab,
    readonly env: Record<string, string>,
  ) {}

  get managers(): SwarmNode[] {
    return this.nodes.filter((n) => n.role === 'manager');
  }

  get workers(): SwarmNode[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }

  /** The first manager (the one that ran `swarm init`). */
  get first(): SwarmNode {
    const n = this.nodes[0];
    if (!n) throw new Error('the swarm has no nodes');
    return n;
  }

  node(name: string): SwarmNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node named ${name}`);
    return n;
  }

  /** The manager that `node ls` calls Leader (polls until one is). */
  async leader(timeoutMs = 15_000): Promise<SwarmNode> {
    return leaderOf(this.managers, timeoutMs);
  }

  /** The join token for a role, asked of the leader. */
  async token(role: 'worker' | 'manager'): Promise<string> {
    const l = await this.leader();
    return (await l.d.ok(['swarm', 'join-token', '-q', role])).trim();
  }

  /** `<first manager ip>:2377`. */
  get joinAddr(): string {
    return `${this.first.host.ip}:2377`;
  }

  /** Starts a host with a daemon but does not join it (for tests of joining). */
  async addHost(role: 'manager' | 'worker', name?: string): Promise<SwarmNode> {
    const n = role === 'manager' ? ++this.managerCount : ++this.workerCount;
    const hostname = name ?? `${role === 'manager' ? 'm' : 'w'}${n}`;
    const host = await this.lab.addHost(this.t);
    const d = await withDaemon(this.t, { netns: host.netns, hostname, env: { ...SWARM_ENV, ...this.env } });
    const node: SwarmNode = { name: hostname, role, d, host, id: '' };
    this.nodes.push(node);
    return node;
  }

  /** Starts a host and joins it with the role's token, then waits until the leader lists it Ready. */
  async addNode(role: 'manager' | 'worker', name?: string): Promise<SwarmNode> {
    const node = await this.addHost(role, name);
    await this.join(node);
    return node;
  }

  /** Joins a started host with its role's token, through the current leader; waits for it to be Ready in `node ls`. */
  async join(node: SwarmNode): Promise<void> {
    const l = await this.leader();
    const token = (await l.d.ok(['swarm', 'join-token', '-q', node.role])).trim();
    await node.d.ok(['swarm', 'join', '--token', token, '--advertise-addr', node.host.ip, `${l.host.ip}:2377`], { timeoutMs: 30_000 });
    await this.waitReady([node.name]);
  }

  /** Waits until the leader's `node ls` shows these hostnames (default: every node) Ready, and records their IDs. */
  async waitReady(names = this.nodes.map((n) => n.name), timeoutMs = 30_000): Promise<void> {
    let last: NodeRow[] = [];
    const ok = await eventually(
      async () => {
        const l = await leaderOf(this.managers, 5_000).catch(() => undefined);
        if (!l) return false;
        last = await nodeLs(l.d).catch(() => []);
        return names.every((name) => last.some((r) => r.hostname === name && r.status === 'Ready'));
      },
      timeoutMs,
      200,
    );
    if (!ok) throw new Error(`nodes ${names.join(', ')} not all Ready; node ls shows:\n${last.map((r) => JSON.stringify(r)).join('\n')}`);
    for (const r of last) {
      const n = this.nodes.find((x) => x.name === r.hostname);
      if (n) n.id = r.id;
    }
  }

  /** Containers of a service on every node: hostname → container names. */
  async spread(service: string): Promise<Map<string, string[]>> {
    const m = new Map<string, string[]>();
    for (const n of this.nodes) m.set(n.name, await containersOn(n.d, service));
    return m;
  }

  /** Total running containers of a service across nodes. */
  async total(service: string): Promise<number> {
    let sum = 0;
    for (const v of (await this.spread(service)).values()) sum += v.length;
    return sum;
  }
}

/**
 * Starts a swarm of `managers` managers (m1 inits) and `workers` workers, each on
 * its own host, and waits until every node is Ready on the leader. Everything
 * is torn down with the test.
 */
export async function startSwarm(t: Teardown, o: SwarmOptions = {}): Promise<Swarm> {
  const lab = await Lab.create(t);
  const swarm = new Swarm(t, lab, o.env ?? {});
  const managers = o.managers ?? 1;
  const workers = o.workers ?? 0;
  // Start every daemon at once (busybox import included); joining is what must be ordered.
  const hosts = await Promise.all([
    ...Array.from({ length: managers }, () => swarm.addHost('manager')),
    ...Array.from({ length: workers }, () => swarm.addHost('worker')),
  ]);
  // Keep the order asked for (they finished starting in any order): m1, m2, …, w1, w2, ….
  swarm.nodes.splice(0, swarm.nodes.length, ...hosts);
  const first = hosts[0];
  if (!first) throw new Error('a swarm needs at least one manager');
  await first.d.ok(['swarm', 'init', '--advertise-addr', first.host.ip, ...(o.initArgs ?? [])], { timeoutMs: 30_000 });
  await swarm.waitReady([first.name]);
  // Managers one at a time (each is a Raft membership change); workers together.
  for (const m of hosts.slice(1, managers)) await swarm.join(m);
  await Promise.all(hosts.slice(managers).map((w) => swarm.join(w)));
  await swarm.waitReady();
  return swarm;
}

export interface NodeRow {
  id: string;
  self: boolean;
  hostname: string;
  status: string;
  availability: string;
  managerStatus: string;
}

/** `node ls` on `d`, parsed. Throws with the CLI's output when it fails. */
export async function nodeLs(d: Daemon): Promise<NodeRow[]> {
  const out = await d.ok(['node', 'ls', '--format', '{{.ID}}|{{.Self}}|{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}']);
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', self = '', hostname = '', status = '', availability = '', managerStatus = ''] = l.split('|');
      return { id, self: self === 'true', hostname, status, availability, managerStatus };
    });
}

/** Whether the node's daemon process is up. */
export function running(n: SwarmNode): boolean {
  const p = n.d.process;
  return p !== undefined && p.exitCode === null && p.signalCode === null;
}

/** The manager whose `node ls` row says Leader, as seen from any reachable manager. */
export async function leaderOf(managers: SwarmNode[], timeoutMs = 15_000): Promise<SwarmNode> {
  let found: SwarmNode | undefined;
  await eventually(
    async () => {
      for (const m of managers) {
        if (!running(m)) continue;
        const rows = await nodeLs(m.d).catch(() => undefined);
        const row = rows?.find((r) => r.managerStatus === 'Leader');
        found = row ? managers.find((x) => x.name === row.hostname) : undefined;
        // A killed leader can still be named until the others notice.
        if (found && running(found)) return true;
      }
      found = undefined;
      return false;
    },
    timeoutMs,
    200,
  );
  if (!found) throw new Error(`no leader among ${managers.map((m) => m.name).join(', ')}`);
  return found;
}

export interface ServiceRow {
  id: string;
  name: string;
  mode: string;
  replicas: string;
  image: string;
}

/** `service ls` on `d`, parsed. */
export async function serviceLs(d: Daemon): Promise<ServiceRow[]> {
  const out = await d.ok(['service', 'ls', '--format', '{{.ID}}|{{.Name}}|{{.Mode}}|{{.Replicas}}|{{.Image}}']);
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', name = '', mode = '', replicas = '', image = ''] = l.split('|');
      return { id, name, mode, replicas, image };
    });
}

export interface TaskRow {
  id: string;
  name: string;
  node: string;
  desired: string;
  current: string;
  error: string;
}

/** `service ps` on `d`, parsed (--no-trunc so errors are whole). */
export async function servicePs(d: Daemon, service: string, extra: string[] = []): Promise<TaskRow[]> {
  const out = await d.ok(['service', 'ps', '--no-trunc', ...extra, '--format', '{{.ID}}|{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}', service]);
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', name = '', node = '', desired = '', current = '', error = ''] = l.split('|');
      return { id, name: name.endsWith(`.${id}`) ? name.slice(0, -id.length - 1) : name, node, desired, current, error: error.replace(/^"|"$/g, '') };
    });
}

/** The REPLICAS column of `service ls` for a service ('' when it is not listed). */
export async function replicasOf(d: Daemon, service: string): Promise<string> {
  return (await serviceLs(d)).find((s) => s.name === service)?.replicas ?? '';
}

/** Waits until `service ls` shows `n/n` for the service. Throws with `service ps` when it does not. */
export async function waitServiceRunning(d: Daemon, service: string, n: number, timeoutMs = 30_000): Promise<void> {
  const want = `${n}/${n}`;
  if (await eventually(async () => (await replicasOf(d, service).catch(() => '')) === want, timeoutMs, 200)) return;
  const ps = await d.cli(['service', 'ps', '--no-trunc', service]);
  throw new Error(`service ${service} did not reach ${want} (shows ${await replicasOf(d, service).catch(() => '?')}):\n${ps.stdout}${ps.stderr}`);
}

/** Names of the running containers of a service on one host (via the engine's `ps`). */
export async function containersOn(d: Daemon, service: string, all = false): Promise<string[]> {
  const out = await d.ok(['ps', ...(all ? ['-a'] : []), '--filter', `label=com.docker.swarm.service.name=${service}`, '--format', '{{.Names}}']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
