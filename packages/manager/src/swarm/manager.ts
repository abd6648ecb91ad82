// One swarm manager: the replicated store on Raft, the cluster services it
// serves on the cluster port (NodeCA, RaftMembership, and those added by the
// composition root), and the leader-only components, which run exactly while
// this member leads (swarmkit's manager.go). Calls that change the store and
// reach a follower are forwarded to the leader.
import { setMaxListeners } from 'node:events';
import type { ChannelCredentials, Metadata, Server, ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { ErrorCode, ShoalError, errorMessage, failedPrecondition, nopLogger, swarmProto, toServiceError, unavailable } from '@shoal/api';
import type { Cluster, ClusterSpec, Logger, Node, RaftJoinRequest__Output, RaftJoinResponse, RaftLeaveRequest__Output } from '@shoal/api';
import type { GrpcTransportCredentials, Peer, RaftNodeOptions } from '@shoal/raft';
import { GrpcTransport } from '@shoal/raft';
import { CaServer } from '../ca/server.js';
import { authorize, peerIdentity } from '../ca/tls.js';
import { ClusterRaft } from '../raft/cluster-raft.js';
import { noQuorumError } from '../raft/errors.js';
import type { MemoryStore } from '../store/index.js';
import { Forwarder, FORWARDED_FOR } from './forward.js';

/** A leader-only component: runs until its signal aborts. */
export interface LeaderComponent {
  run(signal: AbortSignal): Promise<void>;
}

export interface ManagerOptions {
  nodeId: string;
  /** Where Raft keeps its log and snapshots. */
  raftDir: string;
  /** The cluster address other managers and agents reach this one at (host:port). */
  advertiseAddr: string;
  /** The cluster port's server (mutual TLS), bound and shut down by the caller. */
  server: Server;
  /** Credentials for calls to other managers (Raft links, forwarding). */
  client: { credentials: ChannelCredentials; channelOptions?: Record<string, string | number> };
  /** Founding members when founding; the current members when joining. */
  peers: Peer[];
  /** Joining an existing cluster: wait to be added by the leader. */
  join: boolean;
  /** Recover from a lost majority: come back as the only manager, state intact. */
  forceNewCluster?: boolean;
  /** Leader-only components, built fresh each time this member starts leading. */
  components: (store: MemoryStore) => LeaderComponent[];
  logger?: Logger;
  /** Raft timing and the like (tests shorten them). */
  raft?: Pick<RaftNodeOptions, 'tickMs' | 'electionTick' | 'heartbeatTick' | 'snapshotEvery'>;
}

/**
 * A manager member. start() opens Raft; the caller registers the cluster
 * services' handlers through `serve` and `forwardToLeader`.
 */
export class Manager {
  readonly raft: ClusterRaft;
  readonly forwarder: Forwarder;
  private readonly log: Logger;
  private leading: AbortController | undefined;
  private running: Promise<void>[] = [];
  private readonly unsubscribe: () => void;
  private readonly services: ServiceDefinition[] = [];

  private constructor(
    private readonly o: ManagerOptions,
    raft: ClusterRaft,
    private readonly transport: GrpcTransport,
  ) {
    this.raft = raft;
    this.log = (o.logger ?? nopLogger).child({ component: 'manager', 'node.id': o.nodeId });
    this.forwarder = new Forwarder(() => this.leaderAddr(), o.client);
    this.unsubscribe = raft.onLeadershipChange((leading) => this.onLeadership(leading));
  }

  /**
   * Opens this member's Raft storage and starts it; serves Raft, NodeCA and
   * RaftMembership on the cluster port.
   * @throws ClusterRaft.start's errors (damaged log, a data directory of another member).
   */
  static async start(o: ManagerOptions): Promise<Manager> {
    const log = (o.logger ?? nopLogger).child({ component: 'raft', 'node.id': o.nodeId });
    const creds: GrpcTransportCredentials = {
      server: undefined as never,
      client: o.client.credentials,
      ...(o.client.channelOptions ? { channelOptions: o.client.channelOptions } : {}),
    };
    const transport = new GrpcTransport({
      id: o.nodeId,
      listen: o.advertiseAddr,
      server: o.server,
      credentials: creds,
      // Raft traffic only between managers of this swarm.
      authorize: (call) => {
        const id = peerIdentity(call);
        return id?.role === 'MANAGER' ? undefined : (toServiceError(new ShoalError(ErrorCode.PermissionDenied, 'Raft traffic needs a manager certificate.')) as never);
      },
      logger: { warn: (f, m) => log.debug(m, f) },
    });
    const raft = await ClusterRaft.start({
      id: o.nodeId,
      dataDir: o.raftDir,
      peers: o.peers,
      join: o.join,
      ...(o.forceNewCluster ? { forceNewCluster: true } : {}),
      transport,
      ...o.raft,
      logger: { info: (f, m) => log.info(m, f), warn: (f, m) => log.warn(m, f), error: (f, m) => log.error(m, f) },
    });
    const m = new Manager(o, raft, transport);
    m.serveBuiltins();
    return m;
  }

  get store(): MemoryStore {
    return this.raft.store;
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  isLeader(): boolean {
    return this.raft.isLeader();
  }

  /** The leader's cluster address, when one is known. */
  leaderAddr(): string | undefined {
    return this.raft.leader()?.addr;
  }

  /** Resolves once this member leads (a new single-member cluster). Throws the signal's reason. */
  async waitLeader(signal: AbortSignal): Promise<void> {
    while (!this.isLeader()) {
      signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Writes the swarm's Cluster object and this node's Node object: the first
   * leader of a new swarm does this once. Throws the store's errors.
   */
  async bootstrap(cluster: Cluster, self: Node): Promise<void> {
    await this.store.update((tx) => {
      if (tx.clusters.find().length === 0) tx.clusters.create(cluster);
      if (self.id && !tx.nodes.get(self.id)) tx.nodes.create(self);
    });
  }

  /**
   * Installs a renewed certificate's client credentials for the Raft links
   * and forwarded calls (the cluster port's server credentials are the
   * caller's to update).
   */
  updateClientCredentials(credentials: ChannelCredentials): void {
    this.transport.setClientCredentials(credentials);
    this.forwarder.setCredentials(credentials);
  }

  /** Serves a service on the cluster port (removed again by stop()). */
  serve(def: ServiceDefinition, impl: UntypedServiceImplementation): void {
    this.o.server.addService(def, impl);
    this.services.push(def);
  }

  /**
   * Wraps unary handlers so that on a follower they are forwarded to the
   * leader (with the original caller's node ID in metadata), and served here
   * on the leader.
   */
  forwardToLeader(def: ServiceDefinition, impl: UntypedServiceImplementation, methods: readonly string[]): UntypedServiceImplementation {
    const out: UntypedServiceImplementation = { ...impl };
    for (const name of methods) {
      const local = impl[name] as (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;
      out[name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        if (this.isLeader()) {
          // A leader cut off from its majority would serve stale reads until
          // check-quorum demotes it: fail fast and say why instead.
          const reach = this.raft.reach();
          if (reach.reachable < Math.floor(reach.voters / 2) + 1) {
            cb(toServiceError(noQuorumError(reach, false)));
            return;
          }
          local(call, cb);
          return;
        }
        if (this.leaderAddr() === undefined) {
          // No leader known: say how many managers this one reaches ("No quorum: 1 of 3 …").
          cb(toServiceError(noQuorumError(this.raft.reach(), false)));
          return;
        }
        const caller = peerIdentity(call);
        this.forwarder.unary(def, name, call.request, caller?.nodeId).then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
      };
    }
    return out;
  }

  private serveBuiltins(): void {
    const proto = swarmProto();
    const ca = new CaServer(this.store);
    this.serve(proto.NodeCA.service, this.forwardToLeader(proto.NodeCA.service, ca.handlers(), ['IssueNodeCertificate', 'RenewNodeCertificate']));
    const membership: UntypedServiceImplementation = {
      Join: (call: ServerUnaryCall<RaftJoinRequest__Output, RaftJoinResponse>, cb: sendUnaryData<RaftJoinResponse>) => {
        this.join(call).then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
      },
      Leave: (call: ServerUnaryCall<RaftLeaveRequest__Output, object>, cb: sendUnaryData<object>) => {
        authorizeManager(call);
        this.raft.removeManager(call.request.node_id).then(
          () => cb(null, {}),
          (err: unknown) => cb(toServiceError(err)),
        );
      },
    };
    this.serve(proto.RaftMembership.service, this.forwardToLeader(proto.RaftMembership.service, membership, ['Join', 'Leave']));
  }

  /** RaftMembership.Join on the leader: adds the caller (or the node a follower forwarded for). */
  private async join(call: ServerUnaryCall<RaftJoinRequest__Output, RaftJoinResponse>): Promise<RaftJoinResponse> {
    const caller = authorizeManager(call);
    const forwardedFor = call.metadata.get(FORWARDED_FOR)[0];
    const nodeId = typeof forwardedFor === 'string' && forwardedFor !== '' ? forwardedFor : caller;
    const node = this.store.view((tx) => tx.nodes.get(nodeId));
    if (!node) throw failedPrecondition(`node ${nodeId} is not part of this swarm; join it with a manager token first.`);
    if (node.role !== 'MANAGER') throw failedPrecondition(`node ${nodeId} is a worker; promote it before it joins the managers.`);
    const members = this.raft.status().config;
    if (!members.voters.includes(nodeId) && !members.learners.includes(nodeId)) {
      await this.raft.addManager(nodeId, call.request.addr);
    }
    const peers = this.raft.status().members;
    return { members: peers.map((p) => ({ node_id: p.id, addr: p.addr })) };
  }

  private onLeadership(leading: boolean): void {
    if (leading && !this.leading) {
      const ctl = new AbortController();
      this.leading = ctl;
      const components = this.o.components(this.store);
      // Every component listens on this one signal (more than Node's default warning threshold of 10).
      setMaxListeners(components.length + 10, ctl.signal);
      this.log.info('leading: starting the leader-only components', { count: components.length });
      this.running = components.map((c) =>
        c.run(ctl.signal).catch((err: unknown) => {
          if (!ctl.signal.aborted) this.log.error('a leader-only component failed', { error: errorMessage(err) });
        }),
      );
    } else if (!leading && this.leading) {
      this.log.info('no longer leading: stopping the leader-only components');
      this.leading.abort(unavailable('this manager is no longer the leader'));
      this.leading = undefined;
    }
  }

  /** Stops the components and Raft; removes this manager's services from the cluster port. */
  async stop(): Promise<void> {
    this.unsubscribe();
    this.leading?.abort(unavailable('the manager is stopping'));
    this.leading = undefined;
    await Promise.all(this.running);
    for (const def of this.services) this.o.server.removeService(def);
    this.forwarder.close();
    await this.raft.stop();
    await this.transport.stop();
  }
}

function authorizeManager(call: ServerUnaryCall<unknown, unknown>): string {
  return authorize(call, 'manager').nodeId;
}

/** The defaults `swarm init` gives a new cluster's spec. */
export function defaultClusterSpec(name = 'default'): ClusterSpec {
  return {
    annotations: { name, labels: {} },
    orchestration: { task_history_retention_limit: '5' },
    dispatcher: { heartbeat_period: { seconds: '5', nanos: 0 } },
    ca_config: { node_cert_expiry: { seconds: String(90 * 24 * 3600), nanos: 0 } },
  };
}

export type { Metadata };
