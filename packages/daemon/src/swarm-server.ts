// The local Swarm API (`shoal swarm …`, the Swarm part of `shoal info`). The
// swarm code itself (the manager, its CA and Raft) is loaded only when this
// daemon is, or becomes, part of a swarm.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, hostname, totalmem } from 'node:os';
import type { ServerUnaryCall, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { toServiceError } from '@shoal/api';
import type {
  InitRequest__Output,
  JoinRequest__Output,
  JoinTokenRequest__Output,
  LeaveRequest__Output,
  Logger,
  Node,
  UpdateSwarmRequest__Output,
} from '@shoal/api';
import type { Engine } from '@shoal/engine';
import type { Registry } from '@shoal/manager/metrics/index';
import type { SwarmNode } from './swarm/swarm-node.js';

export interface SwarmHostOptions {
  dataRoot: string;
  logger: Logger;
  /** The engine the agent runs tasks on. */
  engine: Engine;
  engineLabels?: Record<string, string>;
  /** Where metrics go when --metrics-addr is set. */
  metrics?: Registry;
  /** Raft timing for tests (SHOAL_RAFT_TICK_MS). */
  raft?: { tickMs?: number; electionTick?: number };
}

/** Owns this daemon's SwarmNode, created on first use. */
export class SwarmHost {
  private node: SwarmNode | undefined;
  private loading: Promise<SwarmNode> | undefined;

  constructor(private readonly o: SwarmHostOptions) {}

  /** True when the data root holds swarm state from an earlier run. */
  wasInSwarm(): boolean {
    return existsSync(join(this.o.dataRoot, 'swarm', 'state.json'));
  }

  async get(): Promise<SwarmNode> {
    if (this.node) return this.node;
    this.loading ??= (async () => {
      const { SwarmNode } = await import('./swarm/swarm-node.js');
      const { leaderComponents } = await import('./swarm/components.js');
      const { startAgent } = await import('./swarm/agent.js');
      const log = this.o.logger;
      const node = new SwarmNode({
        dataRoot: this.o.dataRoot,
        logger: log,
        describe: () => Promise.resolve(describeHost(this.o.engineLabels ?? {})),
        components: (m, extra) => leaderComponents(m.store, log, extra, (p) => node.clusterMetrics?.observeSchedulingPass(p)),
        startAgent: (ctx) => startAgent(this.o.engine, ctx, log, this.o.metrics),
        ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
        ...(this.o.raft ? { raft: this.o.raft } : {}),
      });
      this.node = node;
      return node;
    })();
    return this.loading;
  }

  /** Rejoins the swarm after a restart. Throws when the stored state is damaged. */
  async restore(): Promise<void> {
    if (!this.wasInSwarm()) return;
    await (await this.get()).restore();
  }

  /** docker info's Swarm section (cheap when not in a swarm). */
  info(): Record<string, unknown> {
    if (this.node) return this.node.info();
    return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
  }

  async close(): Promise<void> {
    await this.node?.close();
  }

  /**
   * The Control service on the local socket: this node's manager handlers
   * (which forward to the leader), or docker's "not a swarm manager" error.
   */
  controlHandlers(methods: readonly string[]): UntypedServiceImplementation {
    const out: UntypedServiceImplementation = {};
    for (const name of methods) {
      out[name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        const impl = this.node?.localControl?.[name] as ((c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void) | undefined;
        if (impl) {
          impl(call, cb);
          return;
        }
        this.get().then(
          (node) => {
            try {
              node.requireManager();
              cb(toServiceError(new Error('the manager is starting; retry in a moment')));
            } catch (err) {
              cb(toServiceError(err));
            }
          },
          (err: unknown) => cb(toServiceError(err)),
        );
      };
    }
    return out;
  }

  handlers(): UntypedServiceImplementation {
    const unary =
      <Req, Res>(fn: (req: Req, signal: AbortSignal) => Promise<Res>) =>
      (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
        const ctl = new AbortController();
        call.on('cancelled', () => ctl.abort());
        fn(call.request, ctl.signal).then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
      };
    return {
      Init: unary(async (req: InitRequest__Output, signal) => ({ node_id: await (await this.get()).init(req, signal) })),
      Join: unary(async (req: JoinRequest__Output, signal) => ({ node_id: await (await this.get()).join(req, signal) })),
      Leave: unary(async (req: LeaveRequest__Output) => {
        await (await this.get()).leave(req.force);
        return {};
      }),
      Inspect: unary(async () => {
        const node = await this.get();
        return { json: JSON.stringify(node.info()) };
      }),
      Update: unary(async (req: UpdateSwarmRequest__Output) => {
        await (await this.get()).update(req);
        return {};
      }),
      JoinToken: unary(async (req: JoinTokenRequest__Output) => (await this.get()).joinToken(req.role, req.rotate)),
    };
  }
}

function describeHost(labels: Record<string, string>): Node['description'] {
  return {
    hostname: hostname(),
    platform: { architecture: process.arch === 'x64' ? 'x86_64' : process.arch, os: 'linux' },
    resources: { nano_cpus: String(cpus().length * 1e9), memory_bytes: String(totalmem()) },
    engine: { engine_version: process.env.SHOAL_VERSION ?? '0.1.0', labels, plugins: [] },
  };
}
