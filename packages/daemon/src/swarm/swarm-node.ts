// This daemon's part in a swarm: `swarm init`, `swarm join`, `swarm leave`,
// and coming back after a restart. A manager serves the cluster port (mutual
// TLS: NodeCA, Raft, RaftMembership, Control, Dispatcher) and runs a Manager;
// every node runs an agent (added by the composition root). Loaded only when
// the daemon is or becomes part of a swarm, so a plain engine does not pay
// for the manager's code.
import { hostname as osHostname, networkInterfaces } from 'node:os';
import { Server } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import {
  ErrorCode,
  failedPrecondition,
  fromServiceError,
  invalidArgument,
  swarmProto,
  toServiceError,
  unavailable,
} from '@shoal/api';
import type {
  ClusterSpec,
  InitRequest__Output,
  IssueNodeCertificateResponse__Output,
  JoinRequest__Output,
  Logger,
  Node,
  RaftJoinResponse__Output,
  UpdateSwarmRequest__Output,
  ClusterSpec__Output,
  ShoalError,
} from '@shoal/api';
import {
  anonymousClientCredentials,
  authorize,
  bootstrapClientCredentials,
  clientCredentials,
  clusterChannelOptions,
  createNodeCsr,
  createRootCa,
  rootCaToProto,
  rotateJoinToken,
  serverCredentials,
  signNodeCertificate,
  validateNodeCertExpiry,
  verifyRootCa,
  currentCluster,
} from '@shoal/manager/ca/index';
import type { NodeCertificate, NodeServerCredentials } from '@shoal/manager/ca/index';
import { newObjectId } from '@shoal/manager/store/index';
import { Dispatcher } from '@shoal/manager/dispatcher/index';
import { ControlServer } from '@shoal/manager/controlapi/index';
import { ClusterMetrics } from '@shoal/manager/metrics/index';
import type { Registry } from '@shoal/manager/metrics/index';
import { CertificateRenewer, peerIdentity } from '@shoal/manager/ca/index';
import { Manager, defaultClusterSpec } from '@shoal/manager/swarm/manager';
import type { LeaderComponent } from '@shoal/manager/swarm/manager';
import { SwarmStateStore } from './state.js';
import { joinRaft, renewCertificate, roleManager, roleOf } from './role-change.js';
import type { Role } from './role-change.js';
import { rm } from 'node:fs/promises';
import type { Node__Output } from '@shoal/api';
import type { SwarmState } from './state.js';

export const DEFAULT_LISTEN = '0.0.0.0:2377';

export interface SwarmNodeOptions {
  dataRoot: string;
  logger: Logger;
  /** What this host offers (CPUs, memory, engine labels) for its Node object. */
  describe: () => Promise<Node['description']>;
  /** Leader-only components of a manager (the dispatcher is added here). */
  components: (manager: Manager, extra: LeaderComponent[]) => LeaderComponent[];
  /** Extra cluster services of a manager (Control, Dispatcher), registered on start. */
  services?: (manager: Manager) => void;
  /** Raft timing (tests shorten it). */
  raft?: { tickMs?: number; electionTick?: number };
  /** Where managers register their cluster metrics (--metrics-addr), if anywhere. */
  metrics?: Registry;
  /** Starts this node's agent (every node runs one); stopped on leave and close. */
  startAgent?: (o: AgentContext) => AgentHandle;
}

export interface AgentContext {
  nodeId: string;
  /** The node's current certificate (read per connection: it changes on renewal and promote/demote). */
  readonly cert: NodeCertificate;
  /** Called with this node's object whenever the managers send it (role changes). */
  onNode?: (node: Node__Output) => void;
  /** Managers' cluster addresses to start from. */
  managers: string[];
  dataDir: string;
}

export interface AgentHandle {
  /** The managers' addresses the agent knows now (the managers keep it current). */
  managers?(): string[];
  stop(): Promise<void>;
  /** Removes this node's task containers (after stop, on `swarm leave`). */
  removeContainers?(): Promise<void>;
}

const JOIN_TIMEOUT_MS = 30_000;

/** The `docker info` wording for a node that is already in a swarm. */
const ALREADY = 'This node is already part of a swarm. Use "shoal swarm leave" to leave this swarm and join another one.';
const NOT_IN_SWARM = 'This node is not part of a swarm.';

export class SwarmNode {
  private readonly files: SwarmStateStore;
  private state: SwarmState | undefined;
  private cert: NodeCertificate | undefined;
  private server: Server | undefined;
  private creds: NodeServerCredentials | undefined;
  manager: Manager | undefined;
  private agent: AgentHandle | undefined;
  /** The manager's metrics, while this node is a manager and metrics are on. */
  clusterMetrics: ClusterMetrics | undefined;
  /** The Control handlers for the local socket, while this node is a manager. */
  localControl: UntypedServiceImplementation | undefined;
  private readonly log: Logger;
  private busy = false;

  constructor(private readonly o: SwarmNodeOptions) {
    this.files = new SwarmStateStore(o.dataRoot);
    this.log = o.logger.child({ component: 'swarm' });
  }

  get nodeId(): string | undefined {
    return this.state?.nodeId;
  }

  get role(): 'MANAGER' | 'WORKER' | undefined {
    return this.state?.role;
  }

  /** The managers this node knows (for the agent), leader first when known. */
  managers(): { id: string; addr: string }[] {
    return this.state?.managers ?? [];
  }

  certificate(): NodeCertificate | undefined {
    return this.cert;
  }

  /** Rejoins the swarm this node was part of before the daemon restarted. Throws when the stored state is damaged. */
  async restore(): Promise<boolean> {
    if (!this.files.exists()) return false;
    const { state, cert } = await this.files.load();
    this.state = state;
    this.cert = cert;
    if (state.role === 'MANAGER') await this.startManager({ peers: state.managers, join: false });
    this.startAgent();
    this.log.info('rejoined the swarm', { 'node.id': state.nodeId, role: state.role });
    return true;
  }

  /**
   * `swarm init`: a new swarm with this node as its first manager.
   * Returns the node ID. Throws FailedPrecondition when already in a swarm,
   * InvalidArgument for bad addresses or settings.
   */
  async init(req: InitRequest__Output, signal: AbortSignal): Promise<string> {
    if (req.force_new_cluster && this.state) return this.forceNewCluster(signal);
    return this.exclusive(async () => {
      if (this.state) throw failedPrecondition(ALREADY);
      if (req.force_new_cluster) throw failedPrecondition(`${NOT_IN_SWARM} --force-new-cluster recovers a swarm this node is a manager of; use plain "shoal swarm init" for a new one.`);
      const listenAddr = normalizeAddr(req.listen_addr || DEFAULT_LISTEN, '--listen-addr');
      const advertiseAddr = advertise(req.advertise_addr, listenAddr);
      const spec = clusterSpec(req.spec);
      const nodeId = newObjectId();
      const clusterId = newObjectId();
      const ca = await createRootCa();
      const csr = await createNodeCsr();
      const certPem = await signNodeCertificate(csr.csrPem, { nodeId, role: 'MANAGER', clusterId }, ca);
      const cert: NodeCertificate = { certPem, keyPem: csr.keyPem, rootCaPem: ca.certPem };
      const state: SwarmState = { nodeId, clusterId, role: 'MANAGER', listenAddr, advertiseAddr, managers: [{ id: nodeId, addr: advertiseAddr }] };
      this.state = state;
      this.cert = cert;
      try {
        await this.files.saveCert(cert);
        await this.files.saveState(state);
        const manager = await this.startManager({ peers: state.managers, join: false });
        await manager.waitLeader(AbortSignal.any([signal, AbortSignal.timeout(JOIN_TIMEOUT_MS)]));
        await manager.bootstrap(
          { id: clusterId, spec, root_ca: rootCaToProto(ca) },
          {
            id: nodeId,
            spec: { desired_role: 'MANAGER', membership: 'ACCEPTED', availability: 'ACTIVE', annotations: { name: '', labels: {} } },
            role: 'MANAGER',
            description: await this.o.describe(),
            status: { state: 'READY', message: '', addr: advertiseAddr.split(':')[0] ?? '' },
            manager_status: { raft_id: nodeId, addr: advertiseAddr, leader: true, reachability: 'REACHABLE' },
          },
        );
        this.startAgent();
      } catch (err) {
        await this.teardown();
        await this.files.clear();
        throw err;
      }
      this.log.info('initialised a new swarm', { 'node.id': nodeId, 'cluster.id': clusterId, addr: advertiseAddr });
      return nodeId;
    });
  }

  /**
   * `swarm init --force-new-cluster` on a manager of a swarm that lost its
   * majority: restarts this manager's Raft as the only member, keeping the
   * cluster state (services, nodes, tasks). Throws FailedPrecondition on a worker.
   */
  private async forceNewCluster(signal: AbortSignal): Promise<string> {
    return this.exclusive(async () => {
      const state = this.state!;
      if (state.role !== 'MANAGER') throw failedPrecondition('--force-new-cluster runs on a manager; this node is a worker.');
      await this.teardown();
      state.managers = [{ id: state.nodeId, addr: state.advertiseAddr }];
      await this.files.saveState(state);
      const manager = await this.startManager({ peers: state.managers, join: false, forceNewCluster: true });
      await manager.waitLeader(AbortSignal.any([signal, AbortSignal.timeout(JOIN_TIMEOUT_MS)]));
      this.startAgent();
      this.log.warn('forced a new cluster from this manager\'s state; the other managers are no longer members', { 'node.id': state.nodeId });
      return state.nodeId;
    });
  }

  /**
   * `swarm join`: gets a certificate from a manager (verified against the
   * token's CA digest first) and takes the role the token grants.
   * Throws FailedPrecondition when already in a swarm, InvalidArgument for a
   * malformed token or address, PermissionDenied for a wrong or rotated-out
   * token, Unavailable when no manager answers.
   */
  async join(req: JoinRequest__Output, signal: AbortSignal): Promise<string> {
    return this.exclusive(async () => {
      if (this.state) throw failedPrecondition(ALREADY);
      if (req.remote_addrs.length === 0) throw invalidArgument('swarm join needs the address of a manager: shoal swarm join --token TOKEN HOST:PORT');
      const remote = normalizeAddr(req.remote_addrs[0]!, 'the manager address', 2377);
      const listenAddr = normalizeAddr(req.listen_addr || DEFAULT_LISTEN, '--listen-addr');
      const advertiseAddr = advertise(req.advertise_addr, listenAddr);
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(JOIN_TIMEOUT_MS)]);
      const proto = swarmProto();

      // 1. The root CA, trusted only once it matches the token's digest.
      const bootstrap = new proto.NodeCA(remote, bootstrapClientCredentials(), clusterChannelOptions());
      let rootCaPem: string;
      try {
        const res = await call<{ certificate: string }>((cb) => bootstrap.GetRootCACertificate({}, { deadline: deadlineOf(deadline) }, cb));
        rootCaPem = res.certificate;
      } catch (err) {
        throw unreachable(remote, err);
      } finally {
        bootstrap.close();
      }
      verifyRootCa(req.join_token, rootCaPem);

      // 2. A certificate for a key made here; the role comes from the token.
      const csr = await createNodeCsr();
      const ca = new proto.NodeCA(remote, anonymousClientCredentials(rootCaPem), clusterChannelOptions());
      let issued: IssueNodeCertificateResponse__Output;
      try {
        issued = await call<IssueNodeCertificateResponse__Output>((cb) =>
          ca.IssueNodeCertificate(
            { csr: csr.csrPem, token: req.join_token, availability: req.availability, advertise_addr: advertiseAddr, hostname: osHostname() },
            { deadline: deadlineOf(deadline) },
            cb,
          ),
        );
      } finally {
        ca.close();
      }
      const cert: NodeCertificate = { certPem: issued.certificate, keyPem: csr.keyPem, rootCaPem: issued.root_ca };
      const role = issued.role === 'MANAGER' ? 'MANAGER' : 'WORKER';
      const state: SwarmState = { nodeId: issued.node_id, clusterId: issued.cluster_id, role, listenAddr, advertiseAddr, managers: [{ id: '', addr: remote }] };
      this.state = state;
      this.cert = cert;
      try {
        await this.files.saveCert(cert);
        if (role === 'MANAGER') {
          // 3. A manager asks the leader (through the manager it knows) to add it to Raft.
          const membership = new proto.RaftMembership(remote, clientCredentials(cert, 'MANAGER'), clusterChannelOptions());
          // The cluster port must listen before the leader starts sending.
          this.server = await this.bindClusterPort(listenAddr, cert);
          let members: RaftJoinResponse__Output;
          try {
            members = await call<RaftJoinResponse__Output>((cb) => membership.Join({ addr: advertiseAddr }, { deadline: deadlineOf(deadline) }, cb));
          } finally {
            membership.close();
          }
          state.managers = members.members.map((m) => ({ id: m.node_id, addr: m.addr }));
          await this.startManager({ peers: state.managers, join: true });
        }
        await this.files.saveState(state);
        this.startAgent();
      } catch (err) {
        await this.teardown();
        await this.files.clear();
        this.state = undefined;
        this.cert = undefined;
        throw err;
      }
      this.log.info('joined the swarm', { 'node.id': state.nodeId, role, manager: remote });
      return state.nodeId;
    });
  }

  /**
   * `swarm leave`: a manager must use force (it would cost the swarm a
   * manager); the last manager leaving with force ends the swarm for it.
   * Throws FailedPrecondition when not in a swarm or a manager without force.
   */
  async leave(force: boolean): Promise<void> {
    return this.exclusive(async () => {
      if (!this.state) throw failedPrecondition(NOT_IN_SWARM);
      if (this.state.role === 'MANAGER' && !force) {
        throw failedPrecondition(
          'You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves the managers one short, which can cost the swarm its quorum. Use `--force` to ignore this message, or demote the node first (`shoal node demote`).',
        );
      }
      const agent = this.agent;
      await this.teardown();
      // As docker: the swarm's task containers on this node go with it.
      await agent?.removeContainers?.().catch((err: unknown) => this.log.warn('removing the task containers failed', { error: String(err) }));
      await this.files.clear();
      this.state = undefined;
      this.cert = undefined;
      this.log.info('left the swarm');
    });
  }

  /** `swarm join-token`: throws FailedPrecondition on a worker or outside a swarm. */
  async joinToken(role: string, rotate: boolean): Promise<{ token: string; manager_addr: string }> {
    const manager = this.requireManager();
    if (role !== 'worker' && role !== 'manager') throw invalidArgument(`unknown role ${role}: use worker or manager`);
    if (rotate) await this.changeCluster({ rotate: role === 'worker' ? 'WORKER' : 'MANAGER' });
    // A linearizable read: a follower sees a rotation the leader just made.
    await manager.raft.barrier();
    const tokens = currentCluster(manager.store).root_ca?.join_tokens;
    return { token: (role === 'worker' ? tokens?.worker : tokens?.manager) ?? '', manager_addr: this.state!.advertiseAddr };
  }

  /**
   * `swarm update`: changes the cluster settings named in `fields`.
   * Throws FailedPrecondition on a worker, InvalidArgument for bad values,
   * Conflict when the cluster changed meanwhile (retry).
   */
  async update(req: UpdateSwarmRequest__Output): Promise<void> {
    const given = clusterSpec(req.spec);
    for (const f of req.fields) if (!['dispatcher', 'ca_config', 'orchestration'].includes(f)) throw invalidArgument(`unknown swarm setting ${f}`);
    await this.changeCluster({
      spec: (spec) => {
        for (const f of req.fields) {
          if (f === 'dispatcher') spec.dispatcher = (given.dispatcher ?? null) as typeof spec.dispatcher;
          else if (f === 'ca_config') spec.ca_config = { ...spec.ca_config!, node_cert_expiry: (given.ca_config?.node_cert_expiry ?? null) as NonNullable<typeof spec.ca_config>['node_cert_expiry'] };
          else spec.orchestration = { task_history_retention_limit: req.spec?.orchestration?.task_history_retention_limit ?? '5' };
        }
      },
    });
  }

  /**
   * Changes the Cluster object: in the store on the leader, through the
   * leader's Control.UpdateCluster elsewhere (with the version read here, so
   * a concurrent change is refused rather than overwritten).
   */
  private async changeCluster(change: { rotate?: 'WORKER' | 'MANAGER'; spec?: (spec: ClusterSpec__Output) => void }): Promise<void> {
    const manager = this.requireManager();
    if (manager.isLeader()) {
      await manager.store.update((tx) => {
        const c = tx.clusters.find()[0];
        if (!c?.spec || !c.root_ca) throw failedPrecondition('the swarm has no cluster object yet');
        change.spec?.(c.spec);
        if (change.rotate) c.root_ca.join_tokens = rotateJoinToken(c.root_ca.join_tokens ?? { worker: '', manager: '' }, change.rotate, c.root_ca.ca_cert_hash);
        tx.clusters.update(c);
      });
      return;
    }
    await manager.raft.barrier();
    const c = currentCluster(manager.store);
    const spec = structuredClone(c.spec!);
    change.spec?.(spec);
    await manager.forwarder.unary(
      swarmProto().Control.service,
      'UpdateCluster',
      {
        cluster_id: c.id,
        cluster_version: c.meta?.version,
        spec,
        rotation: { worker_join_token: change.rotate === 'WORKER', manager_join_token: change.rotate === 'MANAGER' },
      },
      this.state?.nodeId,
    );
  }

  /** docker info's Swarm section. */
  info(): Record<string, unknown> {
    if (!this.state) return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
    const m = this.manager;
    const out: Record<string, unknown> = {
      NodeID: this.state.nodeId,
      NodeAddr: this.state.advertiseAddr.split(':')[0],
      LocalNodeState: 'active',
      ControlAvailable: this.state.role === 'MANAGER',
      Error: '',
      RemoteManagers: this.managers().map((p) => ({ NodeID: p.id, Addr: p.addr })),
    };
    if (m) {
      const nodes = m.store.view((tx) => tx.nodes.find());
      out.Nodes = nodes.length;
      out.Managers = nodes.filter((n) => n.role === 'MANAGER').length;
      out.Cluster = { ID: this.state.clusterId };
      out.IsLeader = m.isLeader();
    }
    return out;
  }

  /** The running manager; throws FailedPrecondition with docker's text otherwise. */
  requireManager(): Manager {
    if (!this.state) throw failedPrecondition(`${NOT_IN_SWARM} Use "shoal swarm init" or "shoal swarm join" to connect this node to a swarm and try again.`);
    if (!this.manager) {
      throw failedPrecondition(
        'This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.',
      );
    }
    return this.manager;
  }

  private async startManager(o: { peers: { id: string; addr: string }[]; join: boolean; forceNewCluster?: boolean }): Promise<Manager> {
    const state = this.state!;
    const cert = this.cert!;
    this.server ??= await this.bindClusterPort(state.listenAddr, cert);
    const box: { dispatcher?: Dispatcher } = {};
    const manager: Manager = await Manager.start({
      nodeId: state.nodeId,
      raftDir: this.files.raftDir,
      advertiseAddr: state.advertiseAddr,
      server: this.server,
      client: { credentials: clientCredentials(cert, 'MANAGER'), channelOptions: clusterChannelOptions() },
      peers: o.peers.filter((p) => p.id !== ''),
      join: o.join,
      ...(o.forceNewCluster ? { forceNewCluster: true } : {}),
      logger: this.o.logger,
      components: () => this.o.components(manager, [...(box.dispatcher ? [box.dispatcher] : []), roleManager(manager, this.o.logger)]),
      ...(this.o.raft ? { raft: this.o.raft } : {}),
    });
    // One dispatcher per manager: it runs while this manager leads; on a
    // follower its calls fail with Unavailable and agents try another manager.
    const dispatcher = new Dispatcher(manager.store, {
      logger: this.o.logger.child({ component: 'dispatcher' }),
      identify: (call) => peerIdentity(call),
      managers: () => manager.raft.status().members.map((p) => ({ node_id: p.id, addr: p.addr, weight: '1' })),
      // The CA creates a node's Node object when it issues the certificate: a missing one was removed.
      createMissingNodes: false,
      // This daemon's own session ends when it shuts down (agent first): not a reason to mark it down.
      localNodeId: state.nodeId,
      onEvent: (e) => {
        if (e.kind === 'heartbeat') this.clusterMetrics?.incHeartbeat();
      },
    });
    if (this.o.metrics) {
      this.clusterMetrics = new ClusterMetrics(manager.store, {
        registry: this.o.metrics,
        raft: () => {
          const st = manager.raft.status();
          return { leader: manager.isLeader(), term: st.term, commit: st.commit, applied: st.applied };
        },
      });
    }
    box.dispatcher = dispatcher;
    manager.serve(swarmProto().Dispatcher.service, dispatcher.service());
    // Control: manager certificates only on the cluster port; the local socket
    // (root-owned) reaches the same handlers. Both forward to the leader.
    const control = new ControlServer(manager.store, {
      logger: this.o.logger,
      raftMembers: {
        managerStatus: (nodeId) => {
          const st = manager.raft.status();
          const member = st.members.find((p) => p.id === nodeId);
          if (!member) return undefined;
          return { raft_id: nodeId, addr: member.addr, leader: st.lead === nodeId, reachability: manager.raft.isReachable(nodeId) ? 'REACHABLE' : 'UNREACHABLE' };
        },
        canRemove: (nodeId) => {
          const voters = manager.raft.status().config.voters.filter((v) => v !== nodeId);
          const reachable = voters.filter((v) => manager.raft.isReachable(v)).length;
          return reachable >= Math.floor(voters.length / 2) + 1;
        },
      },
    });
    const controlDef = swarmProto().Control.service;
    const impl = control.service();
    this.localControl = manager.forwardToLeader(controlDef, impl, Object.keys(controlDef));
    manager.serve(controlDef, managersOnly(this.localControl));
    this.manager = manager;
    this.o.services?.(manager);
    return manager;
  }

  /** Binds the cluster port with this node's certificate. Throws InvalidArgument when the address cannot be bound. */
  private async bindClusterPort(listenAddr: string, cert: NodeCertificate): Promise<Server> {
    const server = new Server({ 'grpc.max_receive_message_length': 256 << 20, 'grpc.max_send_message_length': 256 << 20 });
    this.creds = serverCredentials(cert, { allowAnonymous: true });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(listenAddr, this.creds!, (err) =>
        err ? reject(invalidArgument(`cannot listen on ${listenAddr} for the swarm: ${err.message}; choose another --listen-addr.`)) : resolve(),
      ),
    );
    return server;
  }

  /**
   * Keeps this node's certificate fresh: renews it at a random point between
   * 50% and 80% of its validity through any manager, saves it, and swaps the
   * cluster port's credentials. Runs while the node is in the swarm.
   */
  private startRenewer(): void {
    const ctl = new AbortController();
    this.renewal = ctl;
    const renewer = new CertificateRenewer({
      current: () => this.cert!,
      renew: async () => {
        const addrs = [...new Set([...(this.manager ? [this.state!.advertiseAddr] : []), ...(this.agent?.managers?.() ?? []), ...this.managers().map((m) => m.addr)])];
        return renewCertificate(addrs.filter((a) => a !== ''), this.cert!, this.state!.role);
      },
      onRenewed: async (cert) => {
        this.cert = cert;
        await this.files.saveCert(cert);
        this.creds?.update(cert);
        this.manager?.updateClientCredentials(clientCredentials(cert, 'MANAGER'));
        this.log.info('renewed the node certificate', { 'node.id': this.state?.nodeId });
      },
      logger: this.log,
    });
    void renewer.run(ctl.signal).catch((err: unknown) => this.log.warn('certificate renewal stopped', { error: String(err) }));
  }

  private renewal: AbortController | undefined;

  private startAgent(): void {
    if (!this.o.startAgent || !this.state || !this.cert) return;
    if (!this.renewal) this.startRenewer();
    const current = (): NodeCertificate => this.cert!;
    this.agent = this.o.startAgent({
      nodeId: this.state.nodeId,
      get cert(): NodeCertificate {
        return current();
      },
      onNode: (n) => this.onNode(n),
      // A manager's agent talks to its own dispatcher first.
      // It also knows every Raft member (the saved list may be only itself, after `swarm init`).
      managers: [
        ...new Set([
          ...(this.state.role === 'MANAGER' ? [this.state.advertiseAddr] : []),
          ...(this.manager?.raft.status().members.map((p) => p.addr) ?? []),
          ...this.state.managers.map((m) => m.addr),
        ]),
      ].filter((a) => a !== ''),
      dataDir: this.files.agentDir,
    });
  }

  /**
   * The managers sent this node's object: when the role they record differs
   * from this node's (after `node promote` / `node demote`), become that role.
   * Failures are retried a little later.
   */
  private onNode(node: Node__Output): void {
    this.lastNode = node;
    this.rememberManagers();
    const want = roleOf(node);
    if (!this.state || node.id !== this.state.nodeId || want === this.state.role || this.busy) return;
    this.busy = true;
    this.changeRole(want)
      .catch((err: unknown) => {
        this.log.warn('changing the node role failed; retrying', { role: want, error: String(err) });
        clearTimeout(this.roleRetry);
        this.roleRetry = setTimeout(() => {
          if (this.lastNode) this.onNode(this.lastNode);
        }, 2_000);
        this.roleRetry.unref();
      })
      .finally(() => {
        this.busy = false;
      });
  }

  /**
   * A worker saves the managers its agent has learnt, so that after a restart
   * it can reach the swarm even when the manager it joined through is down.
   * (A manager's list comes from Raft.)
   */
  private rememberManagers(): void {
    const st = this.state;
    const learnt = this.agent?.managers?.() ?? [];
    if (!st || st.role !== 'WORKER' || learnt.length === 0) return;
    const known = st.managers.map((m) => m.addr).sort().join(',');
    if ([...learnt].sort().join(',') === known) return;
    st.managers = learnt.map((addr) => ({ id: '', addr }));
    this.files.saveState(st).catch((err: unknown) => this.log.warn('saving the managers list failed', { error: String(err) }));
  }

  private lastNode: Node__Output | undefined;
  private roleRetry: NodeJS.Timeout | undefined;

  /** Promotion: a manager certificate, the cluster port, Raft. Demotion: the manager stops, a worker certificate. */
  private async changeRole(want: Role): Promise<void> {
    const state = this.state!;
    const others = (): string[] =>
      [...new Set([...(this.agent?.managers?.() ?? []), ...state.managers.map((m) => m.addr)])].filter((a) => a !== '' && a !== state.advertiseAddr);
    if (want === 'MANAGER') {
      const cert = await renewCertificate(others(), this.cert!, 'MANAGER');
      this.cert = cert;
      await this.files.saveCert(cert);
      this.server ??= await this.bindClusterPort(state.listenAddr, cert);
      try {
        const members = await joinRaft(others(), cert, state.advertiseAddr);
        await this.startManager({ peers: members, join: true });
        state.managers = members;
      } catch (err) {
        const s = this.server;
        this.server = undefined;
        if (s && !this.manager) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
        throw err;
      }
      state.role = 'MANAGER';
      await this.files.saveState(state);
      this.log.info('promoted: this node is now a manager', { 'node.id': state.nodeId });
      return;
    }
    const m = this.manager;
    if (m) {
      this.manager = undefined;
      this.localControl = undefined;
      this.clusterMetrics?.close();
      this.clusterMetrics = undefined;
      await m.stop().catch((err: unknown) => this.log.warn('stopping the manager failed', { error: String(err) }));
      const s = this.server;
      this.server = undefined;
      if (s) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
      // This member was removed from Raft: a later promotion joins afresh.
      await rm(this.files.raftDir, { recursive: true, force: true });
    }
    const cert = await renewCertificate(others(), this.cert!, 'WORKER');
    this.cert = cert;
    await this.files.saveCert(cert);
    state.role = 'WORKER';
    state.managers = state.managers.filter((p) => p.id !== state.nodeId);
    await this.files.saveState(state);
    this.log.info('demoted: this node is now a worker', { 'node.id': state.nodeId });
  }

  private async teardown(): Promise<void> {
    this.renewal?.abort();
    this.renewal = undefined;
    const a = this.agent;
    this.agent = undefined;
    await a?.stop().catch((err: unknown) => this.log.warn('stopping the agent failed', { error: String(err) }));
    const m = this.manager;
    this.manager = undefined;
    this.localControl = undefined;
    this.clusterMetrics?.close();
    this.clusterMetrics = undefined;
    await m?.stop().catch((err: unknown) => this.log.warn('stopping the manager failed', { error: String(err) }));
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
  }

  /** Stops serving (daemon shutdown); the swarm state stays for the next start. */
  async close(): Promise<void> {
    await this.teardown();
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw failedPrecondition('another swarm operation (init, join or leave) is in progress; wait for it to finish.');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }
}

/** Wraps Control handlers for the cluster port: manager certificates only. */
export function managersOnly(impl: UntypedServiceImplementation): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
      try {
        authorize(call, 'manager');
      } catch (err) {
        cb(toServiceError(err));
        return;
      }
      (fn as (c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void)(call, cb);
    };
  }
  return out;
}

function call<T>(fn: (cb: (err: ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    fn((err, res) => {
      if (err) reject(fromServiceError(err));
      else resolve(res as T);
    }),
  );
}

function deadlineOf(signal: AbortSignal): Date {
  void signal;
  return new Date(Date.now() + JOIN_TIMEOUT_MS);
}

function unreachable(addr: string, err: unknown): ShoalError {
  const e = fromServiceError(err);
  if (e.code === ErrorCode.Unavailable || e.code === ErrorCode.DeadlineExceeded) {
    return unavailable(`cannot reach a manager at ${addr}: ${e.message.replace(/; is shoald running\?.*$/, '')}; check the address and that the manager's port is open.`);
  }
  return e;
}

/** host:port with the default port; throws InvalidArgument naming the flag. */
export function normalizeAddr(value: string, flag: string, defaultPort = 2377): string {
  const v = value.trim();
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+)(?::(\d+))?$/.exec(v);
  if (!m) throw invalidArgument(`invalid ${flag} "${value}": use HOST or HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!(port > 0 && port < 65536)) throw invalidArgument(`invalid ${flag} "${value}": the port must be between 1 and 65535`);
  return `${m[1]}:${port}`;
}

/** The address others reach this node at: --advertise-addr, else the listen host, else this host's one external IPv4. */
function advertise(given: string, listenAddr: string): string {
  const port = listenAddr.slice(listenAddr.lastIndexOf(':') + 1);
  if (given) {
    // An interface name is allowed, as in docker.
    const ifaddr = networkInterfaces()[given]?.find((a) => a.family === 'IPv4')?.address;
    return normalizeAddr(ifaddr ?? given, '--advertise-addr', Number(port));
  }
  const host = listenAddr.slice(0, listenAddr.lastIndexOf(':'));
  if (host !== '0.0.0.0' && host !== '[::]') return listenAddr;
  const candidates = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address)
    // Bridges the engine made are not how other hosts reach this one.
    .filter((ip) => !ip.startsWith('172.17.'));
  if (candidates.length === 0) {
    throw invalidArgument('could not choose an IP address to advertise since this system has no suitable interface; specify one with --advertise-addr');
  }
  return `${candidates[0]}:${port}`;
}

function clusterSpec(given: ClusterSpec | null): ClusterSpec {
  const spec = defaultClusterSpec();
  if (given?.dispatcher?.heartbeat_period && Number(given.dispatcher.heartbeat_period.seconds) > 0) spec.dispatcher = given.dispatcher;
  if (given?.ca_config?.node_cert_expiry && Number(given.ca_config.node_cert_expiry.seconds) > 0) {
    validateNodeCertExpiry(Number(given.ca_config.node_cert_expiry.seconds) * 1000);
    spec.ca_config = given.ca_config;
  }
  if (given?.orchestration && Number(given.orchestration.task_history_retention_limit) > 0) spec.orchestration = given.orchestration;
  return spec;
}
