// The replicated KV service: a RaftNode over a GrpcTransport, a KvStateMachine,
// and the KV gRPC API. Writes are accepted on the leader only (followers
// answer NotLeader with the leader's client address); Gets go through a
// ReadIndex barrier on any member unless the caller asks for a local read.
// Each member's client address travels as its Peer.meta, so every member can
// point clients at the leader.
import * as grpc from '@grpc/grpc-js';
import { RaftNode, type RaftNodeLogger } from '../node/raft-node.js';
import { GrpcTransport, type GrpcTransportCredentials } from '../transport/grpc-transport.js';
import type { Peer } from '../transport/transport.js';
import type {
  KvCasRequest,
  KvCasResponse,
  KvGetRequest,
  KvGetResponse,
  KvMemberRequest,
  KvMemberResponse,
  KvPutRequest,
  KvStatusResponse,
  KvWriteResponse,
} from './kv-proto.js';
import { kvServiceDefinition } from './kv-proto.js';
import { KvError, toGrpcError } from './kv-errors.js';
import { encodeKvCommand, KvStateMachine, type KvCasResult, type KvCommand } from './kv-state-machine.js';

/**
 * The KV server's default snapshot interval, etcd's (3.2+) --snapshot-count.
 * A snapshot serializes the whole key space on the Raft loop (it must be the
 * state at one applied index), so its cost grows with the data while the
 * interval is fixed; at ~3k writes/s the library default (10,000) pays that
 * every few seconds. The price of the larger interval: up to 100k entries
 * (plus snapshotCatchUpEntries) kept in memory and replayed from the WAL on a
 * restart, and more WAL on disk before segments are released. A lagging
 * follower needs a snapshot only when it falls behind the catch-up window,
 * which does not change.
 */
export const KV_SNAPSHOT_EVERY = 100_000;

export interface KvServerOptions {
  id: string;
  /** Raft transport listen address (host:port). */
  raftListen: string;
  /** KV API listen address (host:port). */
  clientListen: string;
  dataDir: string;
  /** Members with their Raft address (`addr`) and, when known, KV API address (`meta`). */
  peers: Peer[];
  join?: boolean;
  tickMs?: number;
  electionTick?: number;
  heartbeatTick?: number;
  /** Take a Raft snapshot every this many applied entries. Default KV_SNAPSHOT_EVERY (100,000). */
  snapshotEvery?: number;
  snapshotCatchUpEntries?: number;
  /** RaftNodeOptions.pipelineDepth. Default 1 (no pipelining). */
  pipelineDepth?: number;
  /** Raft transport credentials (default insecure). */
  credentials?: GrpcTransportCredentials;
  logger?: RaftNodeLogger;
}

const empty = new Uint8Array(0);

export class KvServer {
  readonly sm = new KvStateMachine();
  private node!: RaftNode;
  private server!: grpc.Server;
  private transport!: GrpcTransport;
  private clientPort = 0;

  private constructor(private readonly opts: KvServerOptions) {}

  /**
   * Starts the Raft member and the KV API.
   * Throws when an address cannot be bound, and RaftNode.start's errors (bad data directory, damaged storage).
   */
  static async start(opts: KvServerOptions): Promise<KvServer> {
    const s = new KvServer(opts);
    const peers = opts.peers.map((p) => (p.id === opts.id ? { ...p, meta: opts.clientListen } : p));
    if (!peers.some((p) => p.id === opts.id)) peers.push({ id: opts.id, addr: opts.raftListen, meta: opts.clientListen });
    const topts: ConstructorParameters<typeof GrpcTransport>[0] = { id: opts.id, listen: opts.raftListen };
    if (opts.credentials) topts.credentials = opts.credentials;
    if (opts.logger) topts.logger = opts.logger;
    s.transport = new GrpcTransport(topts);
    const nodeOpts: Parameters<typeof RaftNode.start>[0] = {
      id: opts.id,
      dataDir: opts.dataDir,
      peers,
      transport: s.transport,
      stateMachine: s.sm,
    };
    if (opts.join) nodeOpts.join = true;
    if (opts.tickMs !== undefined) nodeOpts.tickMs = opts.tickMs;
    if (opts.electionTick !== undefined) nodeOpts.electionTick = opts.electionTick;
    if (opts.heartbeatTick !== undefined) nodeOpts.heartbeatTick = opts.heartbeatTick;
    nodeOpts.snapshotEvery = opts.snapshotEvery ?? KV_SNAPSHOT_EVERY;
    if (opts.snapshotCatchUpEntries !== undefined) nodeOpts.snapshotCatchUpEntries = opts.snapshotCatchUpEntries;
    if (opts.pipelineDepth !== undefined) nodeOpts.pipelineDepth = opts.pipelineDepth;
    if (opts.logger) nodeOpts.logger = opts.logger;
    s.node = await RaftNode.start(nodeOpts);
    try {
      await s.listen();
    } catch (err) {
      await s.node.stop();
      throw err;
    }
    return s;
  }

  get raft(): RaftNode {
    return this.node;
  }

  /** The bound KV API port. */
  get port(): number {
    return this.clientPort;
  }

  /** Resolves when the Raft member stops; with the error when it stopped on a fatal one. */
  get done(): Promise<Error | undefined> {
    return this.node.done;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 500);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await this.node.stop();
  }

  status(): KvStatusResponse {
    const st = this.node.status();
    return {
      id: st.id,
      state: st.state,
      term: st.term,
      leader_id: st.lead,
      leader_client_addr: st.leader?.meta ?? '',
      commit: st.commit,
      applied: st.applied,
      last_index: st.lastIndex,
      snapshot_index: st.snapshotIndex,
      state_hash: this.sm.stateHash(),
      keys: this.sm.size,
      voters: st.config.voters,
      learners: st.config.learners,
      members: st.members.map((p) => ({ id: p.id, addr: p.addr, client_addr: p.meta ?? '' })),
    };
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    const unary = <Req, Res>(fn: (req: Req, signal: AbortSignal) => Promise<Res>) => {
      return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
        const ac = new AbortController();
        let settled = false;
        // grpc-js also reports 'cancelled' when the stream closes after the answer: only a pending call aborts.
        call.on('cancelled', () => {
          if (!settled) ac.abort(new DOMException('The client cancelled the call.', 'AbortError'));
        });
        fn(call.request, ac.signal).then(
          (res) => {
            settled = true;
            callback(null, res);
          },
          (err: unknown) => {
            settled = true;
            callback(toGrpcError(err, (id) => this.node.member(id)?.meta));
          },
        );
      };
    };
    server.addService(kvServiceDefinition(), {
      Put: unary<KvPutRequest, KvWriteResponse>(async (req, signal) => {
        const r = await this.write({ op: 'put', key: req.key, value: req.value }, signal);
        return { index: r.index };
      }),
      Append: unary<KvPutRequest, KvWriteResponse>(async (req, signal) => {
        const r = await this.write({ op: 'append', key: req.key, value: req.value }, signal);
        return { index: r.index };
      }),
      Cas: unary<KvCasRequest, KvCasResponse>(async (req, signal) => {
        const r = await this.write({ op: 'cas', key: req.key, expected: req.expect_absent ? undefined : req.expected, value: req.value }, signal);
        const res = r.result as KvCasResult;
        return { succeeded: res.succeeded, found: res.current !== undefined, current: res.current ?? empty, index: r.index };
      }),
      Get: unary<KvGetRequest, KvGetResponse>(async (req, signal) => {
        if (req.linearizable) await this.node.readIndex(signal);
        const v = this.sm.get(req.key);
        return { found: v !== undefined, value: v ?? empty, index: this.node.status().applied };
      }),
      Status: unary<unknown, KvStatusResponse>(async () => this.status()),
      AddMember: unary<KvMemberRequest, KvMemberResponse>(async (req, signal) => {
        if (!req.id || !req.addr) throw new KvError('InvalidArgument', 'AddMember needs the member ID and its Raft address.');
        const cs0 = this.node.status().config;
        let cs = cs0;
        if (!cs0.learners.includes(req.id) && !cs0.voters.includes(req.id)) {
          cs = await this.node.addLearner(req.id, req.addr, signal, req.client_addr || undefined);
        }
        if (!req.learner_only && !cs.voters.includes(req.id)) cs = await this.node.promote(req.id, signal);
        return { voters: cs.voters, learners: cs.learners };
      }),
      RemoveMember: unary<KvMemberRequest, KvMemberResponse>(async (req, signal) => {
        const cs = await this.node.removeMember(req.id, signal);
        return { voters: cs.voters, learners: cs.learners };
      }),
    });
    this.clientPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.opts.clientListen, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(new Error(`Cannot listen for KV clients on ${this.opts.clientListen}: ${err.message}; choose a free address.`, { cause: err }));
        else resolve(port);
      });
    });
    this.server = server;
  }

  private write(c: KvCommand, signal: AbortSignal) {
    return this.node.propose(encodeKvCommand(c), signal);
  }
}
