// The agent: the worker plus a session with some manager's Dispatcher. It
// opens the worker (re-adopting tasks from before a restart), then keeps a
// session open for as long as it runs: when a session fails it reconnects,
// with backoff, preferring another manager from the list the managers sent.
// Tasks keep running while no manager is reachable.
import type { ChannelCredentials, ChannelOptions, Metadata } from '@grpc/grpc-js';
import {
  errorMessage,
  nopLogger,
  sleep,
  swarmProto,
  type Logger,
  type NodeDescription,
  type Node__Output,
  type WeightedPeer__Output,
} from '@shoal/api';
import type { Executor } from '../exec/executor.js';
import { StatusBatcher } from '../worker/reporter.js';
import { Worker } from '../worker/worker.js';
import { runSession } from './dispatcher-session.js';

export interface AgentOptions {
  executor: Executor;
  /** Managers' cluster addresses (host:port) to start from; later replaced by what the managers send. */
  managers: string[];
  /** Credentials for each dial (mutual TLS with the node certificate in production); called per connection so renewed certificates are used. */
  credentials: () => ChannelCredentials;
  /** E.g. clusterChannelOptions() from the CA. */
  channelOptions?: ChannelOptions;
  /** Where the worker keeps its task file. */
  dataDir: string;
  logger?: Logger;
  /** Extra call metadata (tests only). */
  metadata?: () => Metadata;
  /** Reconnect backoff: first delay (default 200 ms), doubling to maxBackoffMs (default 10 s), with jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Session call timeout (default 10 s). */
  callTimeoutMs?: number;
  /** Runner retry delays (tests shorten them). */
  retryMs?: number;
  /** Called whenever the managers send this node's object. */
  onNode?: (node: Node__Output) => void;
}

/** What the agent is doing, for `info` and tests. */
export interface AgentState {
  connected: boolean;
  manager: string | undefined;
  sessionId: string;
  managers: string[];
  sessions: number;
  lastError: string;
}

export class Agent {
  readonly worker: Worker;
  readonly batcher: StatusBatcher;
  private readonly log: Logger;
  private managers: string[];
  private next = 0;
  private readonly st: AgentState;
  private description: NodeDescription | undefined;

  constructor(private readonly o: AgentOptions) {
    this.log = (o.logger ?? nopLogger).child({ component: 'agent' });
    this.batcher = new StatusBatcher({ logger: this.log });
    this.worker = new Worker({
      executor: o.executor,
      reporter: this.batcher,
      dataDir: o.dataDir,
      logger: this.log,
      ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}),
    });
    this.managers = [...new Set(o.managers)];
    this.st = { connected: false, manager: undefined, sessionId: '', managers: [...this.managers], sessions: 0, lastError: '' };
  }

  state(): AgentState {
    return { ...this.st, managers: [...this.managers] };
  }

  /**
   * Runs until `signal` aborts, then stops driving tasks (containers keep
   * running) and resolves.
   * @throws only when the worker cannot open (a corrupt task file) or no manager address is known.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.managers.length === 0) throw new Error('the agent needs at least one manager address');
    await this.worker.open();
    const base = this.o.backoffMs ?? 200;
    const max = this.o.maxBackoffMs ?? 10_000;
    let delay = base;
    try {
      while (!signal.aborted) {
        const addr = this.pick();
        const started = Date.now();
        try {
          await this.session(addr, signal);
        } catch (err) {
          this.st.lastError = errorMessage(err);
          this.log.warn('session with a manager failed; reconnecting', { manager: addr, error: this.st.lastError, 'retry.ms': delay });
        } finally {
          this.st.connected = false;
        }
        if (signal.aborted) break;
        // A session that lived a while was healthy: start the backoff again.
        if (Date.now() - started > 10 * delay) delay = base;
        await sleep(delay / 2 + Math.random() * delay / 2, signal).catch(() => undefined);
        delay = Math.min(delay * 2, max);
      }
    } finally {
      await this.worker.close();
    }
  }

  private async session(addr: string, signal: AbortSignal): Promise<void> {
    const Dispatcher = swarmProto().Dispatcher;
    const client = new Dispatcher(addr, this.o.credentials(), {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      ...this.o.channelOptions,
    });
    this.st.manager = addr;
    try {
      this.description ??= await this.o.executor.describe(signal);
      const sessionId = await runSession(
        {
          client,
          description: this.description,
          previousSessionId: this.st.sessionId,
          target: this.worker,
          batcher: this.batcher,
          logger: this.log.child({ manager: addr }),
          ...(this.o.metadata ? { metadata: this.o.metadata } : {}),
          ...(this.o.callTimeoutMs !== undefined ? { callTimeoutMs: this.o.callTimeoutMs } : {}),
          onOpen: (id) => {
            this.st.connected = true;
            this.st.sessionId = id;
            this.st.sessions++;
            this.st.lastError = '';
          },
          onManagers: (peers) => this.setManagers(peers),
          ...(this.o.onNode ? { onNode: this.o.onNode } : {}),
        },
        signal,
      );
      this.st.sessionId = sessionId;
    } finally {
      client.close();
    }
  }

  /** The next manager to dial: after a failure, a different one than last time. */
  private pick(): string {
    const addr = this.managers[this.next % this.managers.length] ?? this.managers[0] ?? '';
    this.next = (this.next + 1) % this.managers.length;
    return addr;
  }

  private setManagers(peers: WeightedPeer__Output[]): void {
    const addrs = [...new Set(peers.map((p) => p.addr).filter((a) => a !== ''))];
    if (addrs.length === 0) return;
    // Keep dialling order stable: the current manager stays where the cursor expects it.
    const current = this.st.manager;
    this.managers = addrs;
    const i = current ? addrs.indexOf(current) : -1;
    this.next = i >= 0 ? (i + 1) % addrs.length : 0;
  }
}
