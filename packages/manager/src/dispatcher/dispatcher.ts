// The dispatcher: the leader's side of every node's connection. It registers
// nodes (Session), keeps their heartbeats (a node that misses them is marked
// DOWN, and the orchestrators replace its tasks), records the task statuses
// they report (batched, never backwards) and streams each node its
// assignments (a complete set, then incremental changes). Model: swarmkit's
// manager/dispatcher (dispatcher.go, nodes.go, heartbeat/, assignments.go).
//
// It runs only on the leader: `run(signal)` starts it and the signal's abort
// (leadership lost, shutdown) ends every stream with UNAVAILABLE so agents
// reconnect to another manager. Its gRPC handlers (`service()`) may be
// registered on a server for good; while the dispatcher is not running they
// answer UNAVAILABLE.
import { isDeepStrictEqual } from 'node:util';
import type {
  ServerUnaryCall,
  ServerWritableStream,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import {
  ErrorCode,
  ShoalError,
  errorCode,
  errorMessage,
  failedPrecondition,
  isConflict,
  toServiceError,
  unavailable,
} from '@shoal/api';
import type {
  AssignmentsMessage,
  AssignmentsRequest__Output,
  Cluster__Output,
  HeartbeatRequest__Output,
  HeartbeatResponse,
  Logger,
  NodeDescription__Output,
  Node__Output,
  SessionMessage,
  SessionRequest__Output,
  TaskStatus__Output,
  UpdateTaskStatusRequest__Output,
  UpdateTaskStatusResponse,
  WeightedPeer,
} from '@shoal/api';
import { all, byNode, newObjectId } from '../store/index.js';
import type { MemoryStore, ReadTx, StoreEvent, Watcher } from '../store/index.js';
import { AssignmentSet } from './assignments.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { HeartbeatTimer } from './heartbeat.js';
import { StatusBatcher } from './status-batcher.js';

export const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;
/** Missed periods before a node is marked down (swarmkit's grace multiplier). */
export const DEFAULT_GRACE_MULTIPLIER = 3;
/** How long a node whose session stream dropped has to open a new one before it is marked down. */
export const DEFAULT_DISCONNECT_GRACE_MS = 2_000;
export const DEFAULT_BATCH_INTERVAL_MS = 100;
export const DEFAULT_MAX_STATUS_BATCH = 1_000;
export const DEFAULT_ASSIGNMENT_BATCH_LIMIT = 200;

/** What `identify` gets: the server call (any kind) of a Dispatcher RPC. */
export type DispatcherCall = Pick<ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;

/** Who is calling: the node its certificate names. */
export interface DispatcherIdentity {
  nodeId: string;
  role: 'WORKER' | 'MANAGER';
}

/** What the dispatcher reports for metrics (or tests). */
export type DispatcherEvent =
  | { kind: 'session-open'; nodeId: string; sessionId: string }
  | { kind: 'session-close'; nodeId: string; sessionId: string }
  | { kind: 'heartbeat'; nodeId: string }
  | { kind: 'node-down'; nodeId: string }
  | { kind: 'status-batch'; applied: number };

/** Counters since construction (sessionsOpen is a gauge). */
export interface DispatcherStats {
  heartbeats: number;
  nodesMarkedDown: number;
  sessionsStarted: number;
  sessionsOpen: number;
  statusBatches: number;
  statusesApplied: number;
}

export interface DispatcherOptions {
  logger: Logger;
  /** Heartbeat deadlines run on this clock (default: real time). */
  clock?: Clock;
  /** The heartbeat period when the cluster spec sets none (default 5 s). */
  heartbeatPeriodMs?: number;
  /**
   * The caller's identity from its mutual-TLS certificate, or undefined when
   * it presented none (the composition root passes ca's `peerIdentity`).
   * May throw a ShoalError (PermissionDenied) for a certificate it refuses.
   */
  identify: (call: DispatcherCall) => DispatcherIdentity | undefined;
  /** The managers agents may connect to (sent with every session message). */
  managers: () => WeightedPeer[];
  /**
   * Whether a session from a node with a valid certificate but no Node
   * object creates one (default true). Set false where the CA creates every
   * Node object when it issues the certificate: a missing one then means
   * the node was removed.
   */
  createMissingNodes?: boolean;
  /** Missed periods before a node is marked down (default 3). */
  gracePeriodMultiplier?: number;
  /**
   * When a node's Session stream ends from its side (its daemon stopped or
   * died, its connection reset) and it opens no new session within this
   * time, it is marked DOWN without waiting for its heartbeat deadline
   * (default 2 s; 0 turns this off and leaves only the heartbeat deadline,
   * which stays the backstop for partitions that reset nothing).
   */
  disconnectGraceMs?: number;
  /**
   * The node this dispatcher's own process runs as. Its session is exempt
   * from the disconnect grace: it ends when the daemon shuts down (agent
   * first, then the manager), and a dead leader's node is for the next
   * leader's heartbeat deadline.
   */
  localNodeId?: string;
  /** How long status updates and assignment changes wait to be batched (default 100 ms, real time). */
  batchIntervalMs?: number;
  /** Queued status updates that are written at once (default 1,000). */
  maxStatusBatch?: number;
  /** Assignment changes sent at once without waiting (default 200). */
  assignmentBatchLimit?: number;
  /** Random source in [0, 1) for the heartbeat jitter (default Math.random). */
  random?: () => number;
  /** Observes sessions, heartbeats, nodes marked down and status batches. */
  onEvent?: (e: DispatcherEvent) => void;
}

/** One open Session or Assignments stream. */
interface OpenStream {
  readonly kind: 'session' | 'assignments';
  /** Ends the stream: OK without an error, else with the error's status. */
  end(err?: Error): void;
  /** Session streams: sends the node (and managers) again. */
  push?(node: Node__Output | undefined): void;
}

/** A node the dispatcher keeps a heartbeat deadline for. */
interface NodeEntry {
  readonly nodeId: string;
  /** '' for a node carried over from the previous leader that has not opened a session yet. */
  readonly sessionId: string;
  readonly timer: HeartbeatTimer;
  readonly streams: Set<OpenStream>;
  /** Its Session stream ended from the node's side: the deadline is the disconnect grace, and the session is over. */
  disconnected?: boolean;
}

const NOT_RUNNING =
  'The dispatcher is not running on this manager (it is not the leader, or it is shutting down); connect to another manager.';

function sessionInvalid(nodeId: string, sessionId: string): ShoalError {
  return failedPrecondition(
    `Session ${sessionId || '(none)'} is not the current session of node ${nodeId} (it expired, was replaced, or the leader changed); open a new session.`,
  );
}

function removedError(nodeId: string): ShoalError {
  return new ShoalError(
    ErrorCode.PermissionDenied,
    `node ${nodeId} was removed from the swarm; leave the swarm on that host (shoal swarm leave --force) and join it again.`,
  );
}

/** The host part of grpc-js's peer string ("1.2.3.4:5678", "::1:5678", "[::1]:5678"). */
export function peerHost(peer: string): string {
  let host = peer.replace(/^(ipv4|ipv6):/, '');
  const colon = host.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(host.slice(colon + 1))) host = host.slice(0, colon);
  host = host.replace(/^\[(.*)\]$/, '$1');
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

function durationMs(d: { seconds?: string | number | null; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

function duration(ms: number): { seconds: string; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

function clusterPeriodMs(c: Cluster__Output | undefined): number {
  return durationMs(c?.spec?.dispatcher?.heartbeat_period);
}

function isRemoved(cluster: Cluster__Output | undefined, nodeId: string): boolean {
  const removed = (cluster as { removed_nodes?: Array<{ id: string }> } | undefined)?.removed_nodes ?? [];
  return removed.some((r) => r.id === nodeId);
}

/** Whether a manager changed what the node is told about itself. */
function nodeChangedForAgent(old: Node__Output | undefined, next: Node__Output): boolean {
  return !old || old.role !== next.role || !isDeepStrictEqual(old.spec, next.spec);
}

export class Dispatcher {
  readonly #store: MemoryStore;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #identify: DispatcherOptions['identify'];
  readonly #managersFn: () => WeightedPeer[];
  readonly #defaultPeriodMs: number;
  readonly #multiplier: number;
  readonly #disconnectGraceMs: number;
  readonly #localNodeId: string | undefined;
  readonly #createMissing: boolean;
  readonly #batchIntervalMs: number;
  readonly #maxStatusBatch: number;
  readonly #assignmentBatchLimit: number;
  readonly #random: () => number;
  readonly #onEvent: ((e: DispatcherEvent) => void) | undefined;

  #running = false;
  #runSignal: AbortSignal | undefined;
  #periodMs: number;
  #statuses: StatusBatcher | undefined;
  #managers: WeightedPeer[] = [];
  readonly #nodes = new Map<string, NodeEntry>();
  /** Nodes deleted while this dispatcher ran (the cluster's list covers earlier ones). */
  readonly #removed = new Set<string>();
  readonly #stats: DispatcherStats = {
    heartbeats: 0,
    nodesMarkedDown: 0,
    sessionsStarted: 0,
    sessionsOpen: 0,
    statusBatches: 0,
    statusesApplied: 0,
  };

  constructor(store: MemoryStore, deps: DispatcherOptions) {
    this.#store = store;
    this.#log = deps.logger.child({ component: 'dispatcher' });
    this.#clock = deps.clock ?? systemClock;
    this.#identify = deps.identify;
    this.#managersFn = deps.managers;
    this.#defaultPeriodMs = deps.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
    this.#periodMs = this.#defaultPeriodMs;
    this.#multiplier = deps.gracePeriodMultiplier ?? DEFAULT_GRACE_MULTIPLIER;
    this.#disconnectGraceMs = deps.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS;
    this.#localNodeId = deps.localNodeId;
    this.#createMissing = deps.createMissingNodes ?? true;
    this.#batchIntervalMs = deps.batchIntervalMs ?? DEFAULT_BATCH_INTERVAL_MS;
    this.#maxStatusBatch = deps.maxStatusBatch ?? DEFAULT_MAX_STATUS_BATCH;
    this.#assignmentBatchLimit = deps.assignmentBatchLimit ?? DEFAULT_ASSIGNMENT_BATCH_LIMIT;
    this.#random = deps.random ?? Math.random;
    this.#onEvent = deps.onEvent;
  }

  /** Whether run() is active and the dispatcher accepts calls. */
  get running(): boolean {
    return this.#running;
  }

  /** The heartbeat period in force (the cluster spec's, else the default). */
  get heartbeatPeriodMs(): number {
    return this.#periodMs;
  }

  /** A copy of the counters, for the metrics helper. */
  get stats(): DispatcherStats {
    return { ...this.#stats };
  }

  /** Nodes with a heartbeat deadline (a session, or carried over from the last leader). */
  get trackedNodes(): number {
    return this.#nodes.size;
  }

  /**
   * Runs the dispatcher until `signal` aborts: marks every node not DOWN as
   * UNKNOWN with a heartbeat deadline (a new leader gives nodes a grace
   * period to reconnect), follows the cluster's heartbeat period, pushes
   * node and manager-list changes to open sessions, writes status batches.
   * On abort every stream ends with UNAVAILABLE and queued status reports
   * fail, so agents reconnect elsewhere and resend them.
   * @throws FailedPrecondition when it is already running.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#runSignal) throw failedPrecondition('The dispatcher is already running; stop it before running it again.');
    if (signal.aborted) return;
    this.#runSignal = signal;
    const statuses = new StatusBatcher(this.#store, {
      logger: this.#log,
      intervalMs: this.#batchIntervalMs,
      maxItems: this.#maxStatusBatch,
      now: () => this.#clock.now(),
      onBatch: (applied) => {
        this.#stats.statusBatches++;
        this.#stats.statusesApplied += applied;
        this.#emit({ kind: 'status-batch', applied });
      },
    });
    this.#statuses = statuses;
    let first = true;
    try {
      while (!signal.aborted) {
        let watcher: Watcher;
        let nodes: Node__Output[] = [];
        try {
          const r = this.#store.viewAndWatch(
            (tx) => {
              this.#applyPeriod(clusterPeriodMs(tx.clusters.find(all)[0]));
              return first ? tx.nodes.find(all) : [];
            },
            { tables: ['nodes', 'clusters'] },
            { signal },
          );
          watcher = r.watcher;
          nodes = r.result;
        } catch (err) {
          this.#log.error('the dispatcher cannot read the store', { err: errorMessage(err) });
          throw err;
        }
        if (first) {
          first = false;
          await this.#markNodesUnknown(nodes, signal);
          if (signal.aborted) {
            watcher.close();
            break;
          }
          this.#managers = this.#readManagers();
          this.#running = true;
          void this.#pollManagers(signal);
          this.#log.info('dispatcher started', { 'heartbeat.period_ms': this.#periodMs, nodes: this.#nodes.size });
        }
        try {
          for await (const e of watcher) this.#onStoreEvent(e);
          break; // closed: aborted
        } catch (err) {
          if (signal.aborted) break;
          this.#log.warn('store watcher dropped; resynchronising', { err: errorMessage(err) });
        } finally {
          watcher.close();
        }
      }
    } finally {
      this.#stop(statuses);
    }
  }

  /** The gRPC handlers for `swarmProto().Dispatcher.service`. */
  service(): UntypedServiceImplementation {
    return {
      Session: (call: ServerWritableStream<SessionRequest__Output, SessionMessage>) => void this.#session(call),
      Heartbeat: (call: ServerUnaryCall<HeartbeatRequest__Output, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) => {
        try {
          cb(null, this.#heartbeat(call));
        } catch (err) {
          cb(toServiceError(err));
        }
      },
      UpdateTaskStatus: (
        call: ServerUnaryCall<UpdateTaskStatusRequest__Output, UpdateTaskStatusResponse>,
        cb: sendUnaryData<UpdateTaskStatusResponse>,
      ) => {
        this.#updateTaskStatus(call).then(
          () => cb(null, {}),
          (err: unknown) => cb(toServiceError(err)),
        );
      },
      Assignments: (call: ServerWritableStream<AssignmentsRequest__Output, AssignmentsMessage>) => void this.#assignments(call),
    };
  }

  // ---- calls ----

  /** The caller's identity; refuses callers without a certificate and calls while not running. */
  #caller(call: DispatcherCall): DispatcherIdentity {
    const id = this.#identify(call);
    if (!id) {
      throw new ShoalError(
        ErrorCode.PermissionDenied,
        'the dispatcher needs a swarm node certificate; the caller presented none (join the swarm first).',
      );
    }
    if (!this.#running) throw unavailable(NOT_RUNNING);
    return id;
  }

  /** The node's entry for a call that carries `sessionId`. */
  #entryFor(nodeId: string, sessionId: string): NodeEntry {
    const entry = this.#nodes.get(nodeId);
    if (!entry || entry.sessionId === '' || entry.sessionId !== sessionId || entry.disconnected) {
      throw sessionInvalid(nodeId, sessionId);
    }
    return entry;
  }

  async #session(call: ServerWritableStream<SessionRequest__Output, SessionMessage>): Promise<void> {
    let ended = false;
    let entry: NodeEntry | undefined;
    const stream: OpenStream = {
      kind: 'session',
      end: (err) => {
        if (ended) return;
        ended = true;
        if (entry) {
          entry.streams.delete(stream);
          this.#stats.sessionsOpen--;
          this.#emit({ kind: 'session-close', nodeId: entry.nodeId, sessionId: entry.sessionId });
        }
        if (call.cancelled) return;
        if (err) call.emit('error', toServiceError(err));
        else call.end();
      },
    };
    // The node hung up (or its connection reset): the disconnect grace starts.
    call.on('cancelled', () => {
      if (entry) this.#disconnected(entry);
      stream.end();
    });
    try {
      const id = this.#caller(call);
      const sessionId = newObjectId();
      const log = this.#log.child({ 'node.id': id.nodeId, 'session.id': sessionId });
      const removed = this.#removed.has(id.nodeId) || this.#store.view((tx) => !tx.nodes.get(id.nodeId) && isRemoved(tx.clusters.find(all)[0], id.nodeId));
      if (removed) throw removedError(id.nodeId);
      // Registered before the store write, so that an expiring deadline of
      // an earlier session cannot mark the node down after this one made it READY.
      const mine = this.#register(id.nodeId, sessionId);
      let node: Node__Output;
      try {
        node = await this.#recordSession(id, call.request.description, peerHost(call.getPeer()));
      } catch (err) {
        if (this.#nodes.get(id.nodeId) === mine) this.#deregister(mine, undefined);
        throw err;
      }
      if (!this.#running || this.#nodes.get(id.nodeId) !== mine) throw sessionInvalid(id.nodeId, sessionId);
      if (ended) {
        // The agent hung up while we registered it: as for a lost connection.
        this.#disconnected(mine);
        return;
      }
      entry = mine;
      mine.streams.add(stream);
      this.#stats.sessionsStarted++;
      this.#stats.sessionsOpen++;
      this.#emit({ kind: 'session-open', nodeId: id.nodeId, sessionId });
      stream.push = (n) => {
        if (ended) return;
        const msg: SessionMessage = { session_id: sessionId, managers: this.#managers };
        if (n) msg.node = n;
        call.write(msg);
      };
      stream.push(node);
      log.info('node session opened', {
        'node.addr': node.status?.addr,
        'session.previous': call.request.previous_session_id || undefined,
      });
    } catch (err) {
      if (errorCode(err) !== ErrorCode.Unavailable) {
        this.#log.warn('session refused', { err: errorMessage(err) });
      }
      stream.end(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Creates or updates the node's object for a new session: description, READY, address, certificate role. */
  async #recordSession(
    id: DispatcherIdentity,
    description: NodeDescription__Output | null,
    addr: string,
  ): Promise<Node__Output> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#store.update((tx) => {
          const n = tx.nodes.get(id.nodeId);
          const status = { state: 'READY' as const, message: '', addr };
          if (!n) {
            if (!this.#createMissing || isRemoved(tx.clusters.find(all)[0], id.nodeId)) throw removedError(id.nodeId);
            return tx.nodes.create({
              id: id.nodeId,
              role: id.role,
              spec: { membership: 'ACCEPTED', availability: 'ACTIVE', desired_role: id.role },
              description: description ?? undefined,
              status,
            });
          }
          // The role of a known node is the role manager's to change (promote/demote), not the
          // certificate's: a node renews its certificate after its role changed, and may reconnect
          // with the old one in between.
          return tx.nodes.update({ ...n, description: description ?? n.description, status });
        });
      } catch (err) {
        // A write of a previous leader raced ours: read again.
        if (!isConflict(err) || attempt >= 2) throw err;
      }
    }
  }

  #heartbeat(call: ServerUnaryCall<HeartbeatRequest__Output, HeartbeatResponse>): HeartbeatResponse {
    const id = this.#caller(call);
    const entry = this.#entryFor(id.nodeId, call.request.session_id);
    // Jitter spreads the nodes' heartbeats (swarmkit: up to 0.5 s of 5 s).
    const period = this.#periodMs + Math.floor(this.#random() * (this.#periodMs / 10));
    entry.timer.beat(period * this.#multiplier);
    this.#stats.heartbeats++;
    this.#emit({ kind: 'heartbeat', nodeId: id.nodeId });
    return { period: duration(period) };
  }

  async #updateTaskStatus(call: ServerUnaryCall<UpdateTaskStatusRequest__Output, UpdateTaskStatusResponse>): Promise<void> {
    const id = this.#caller(call);
    this.#entryFor(id.nodeId, call.request.session_id);
    const log = this.#log.child({ 'node.id': id.nodeId });
    const accepted = this.#store.view((tx) =>
      call.request.updates.filter((u): u is { task_id: string; status: TaskStatus__Output } => {
        if (!u.status) {
          log.warn('task status report without a status; ignored', { 'task.id': u.task_id });
          return false;
        }
        const t = tx.tasks.get(u.task_id);
        if (!t) {
          log.debug('status report for an unknown task; ignored', { 'task.id': u.task_id });
          return false;
        }
        if (t.node_id !== id.nodeId) {
          log.warn('status report for a task assigned to another node; ignored', {
            'task.id': u.task_id,
            'task.node_id': t.node_id,
          });
          return false;
        }
        return true;
      }),
    );
    const statuses = this.#statuses;
    if (!statuses) throw unavailable(NOT_RUNNING);
    await statuses.enqueue(id.nodeId, accepted);
  }

  async #assignments(call: ServerWritableStream<AssignmentsRequest__Output, AssignmentsMessage>): Promise<void> {
    const ctl = new AbortController();
    let ended = false;
    let entry: NodeEntry | undefined;
    const stream: OpenStream = {
      kind: 'assignments',
      end: (err) => {
        if (ended) return;
        ended = true;
        ctl.abort();
        entry?.streams.delete(stream);
        if (call.cancelled) return;
        if (err) call.emit('error', toServiceError(err));
        else call.end();
      },
    };
    call.on('cancelled', () => stream.end());
    try {
      const id = this.#caller(call);
      entry = this.#entryFor(id.nodeId, call.request.session_id);
      entry.streams.add(stream);
      await this.#streamAssignments(id.nodeId, call, ctl.signal);
      stream.end();
    } catch (err) {
      if (!ctl.signal.aborted && errorCode(err) !== ErrorCode.Unavailable) {
        this.#log.warn('assignments stream failed', { err: errorMessage(err) });
      }
      stream.end(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Sends the node's complete set, then batched changes, until `signal` aborts. */
  async #streamAssignments(
    nodeId: string,
    call: ServerWritableStream<AssignmentsRequest__Output, AssignmentsMessage>,
    signal: AbortSignal,
  ): Promise<void> {
    let sequence = 0;
    const lookup = (kind: 'secret' | 'config', objId: string) =>
      this.#store.view((tx) => (kind === 'secret' ? tx.secrets.get(objId) : tx.configs.get(objId)));
    const filter = (e: StoreEvent): boolean =>
      e.kind !== 'commit' && e.table === 'tasks' && (e.object.node_id === nodeId || e.old?.node_id === nodeId);
    while (!signal.aborted) {
      const set = new AssignmentSet(nodeId, lookup);
      const { watcher } = this.#store.viewAndWatch(
        (tx: ReadTx) => {
          for (const t of tx.tasks.find(byNode(nodeId))) set.apply(t);
        },
        filter,
        { signal },
      );
      sequence++;
      call.write({ type: 'COMPLETE', applies_to: '', results_in: String(sequence), changes: set.take() });
      let timer: NodeJS.Timeout | undefined;
      const flush = (): void => {
        clearTimeout(timer);
        timer = undefined;
        if (set.pending === 0 || signal.aborted) return;
        const appliesTo = String(sequence++);
        call.write({ type: 'INCREMENTAL', applies_to: appliesTo, results_in: String(sequence), changes: set.take() });
      };
      try {
        for await (const e of watcher) {
          if (e.kind === 'commit') continue;
          if (e.kind === 'delete') set.remove(e.object.id);
          else if (e.table === 'tasks') set.apply(e.object);
          if (set.pending >= this.#assignmentBatchLimit) flush();
          else if (set.pending > 0) timer ??= setTimeout(flush, this.#batchIntervalMs);
        }
        return; // closed: the stream ended
      } catch (err) {
        if (signal.aborted) return;
        // Fell behind the store: start over with a fresh complete set.
        this.#log.warn('assignments watcher dropped; sending the complete set again', {
          'node.id': nodeId,
          err: errorMessage(err),
        });
      } finally {
        clearTimeout(timer);
        watcher.close();
      }
    }
  }

  // ---- nodes ----

  /** Starts a deadline for a new session of `nodeId`, ending the streams of the one it replaces. */
  #register(nodeId: string, sessionId: string): NodeEntry {
    const old = this.#nodes.get(nodeId);
    if (old) this.#deregister(old, sessionInvalid(nodeId, old.sessionId));
    const entry: NodeEntry = {
      nodeId,
      sessionId,
      streams: new Set(),
      timer: new HeartbeatTimer(this.#clock, this.#periodMs * this.#multiplier, () => {
        void this.#expire(entry, entry.disconnected ? 'node disconnected' : 'heartbeat failure');
      }),
    };
    this.#nodes.set(nodeId, entry);
    return entry;
  }

  /** Forgets a node's deadline and ends its streams (with `err`, or OK). */
  #deregister(entry: NodeEntry, err: Error | undefined): void {
    entry.timer.stop();
    if (this.#nodes.get(entry.nodeId) === entry) this.#nodes.delete(entry.nodeId);
    for (const s of [...entry.streams]) s.end(err);
    entry.streams.clear();
  }

  /**
   * The current session of `entry`'s node ended from the node's side: unless
   * the node opens a new session within the disconnect grace (which replaces
   * this entry), it is marked DOWN then. Not while the dispatcher stops (its
   * streams end from this side), nor for this process's own node.
   */
  #disconnected(entry: NodeEntry): void {
    if (!this.#running || this.#nodes.get(entry.nodeId) !== entry || entry.disconnected) return;
    if (this.#disconnectGraceMs <= 0 || entry.nodeId === this.#localNodeId) return;
    entry.disconnected = true;
    // Never later than the heartbeat deadline it had.
    if (entry.timer.deadline - this.#clock.now() > this.#disconnectGraceMs) entry.timer.beat(this.#disconnectGraceMs);
    this.#log.info('node session lost; marking the node down unless it reconnects', {
      'node.id': entry.nodeId,
      'session.id': entry.sessionId,
      'grace.ms': this.#disconnectGraceMs,
    });
  }

  /** A node missed its heartbeats (or lost its session): mark it DOWN in one store update (unless it has re-registered since). */
  async #expire(entry: NodeEntry, message: string): Promise<void> {
    if (this.#nodes.get(entry.nodeId) !== entry || !this.#running) return;
    const nodeId = entry.nodeId;
    this.#deregister(
      entry,
      failedPrecondition(
        entry.disconnected
          ? `Node ${nodeId} lost its session and did not open a new one in time; it was marked down; open a new session.`
          : `Node ${nodeId} missed its heartbeats and was marked down; open a new session.`,
      ),
    );
    try {
      const marked = await this.#store.update((tx) => {
        if (this.#nodes.has(nodeId)) return false; // a new session came in meanwhile
        const n = tx.nodes.get(nodeId);
        if (!n || n.status?.state === 'DOWN') return false;
        tx.nodes.update({ ...n, status: { ...n.status, state: 'DOWN', message } });
        return true;
      });
      if (!marked) return;
      this.#stats.nodesMarkedDown++;
      this.#emit({ kind: 'node-down', nodeId });
      this.#log.warn(entry.disconnected ? 'node lost its session and did not return; marked down' : 'node missed its heartbeats; marked down', {
        'node.id': nodeId,
        reason: message,
      });
    } catch (err) {
      this.#log.error('marking a node down failed', { 'node.id': nodeId, err: errorMessage(err) });
    }
  }

  /**
   * A new leader does not know which nodes are alive: every node not DOWN
   * becomes UNKNOWN with a full heartbeat deadline to open a session.
   */
  async #markNodesUnknown(nodes: Node__Output[], signal: AbortSignal): Promise<void> {
    const ids = nodes.filter((n) => n.status?.state !== 'DOWN').map((n) => n.id);
    for (const nodeId of ids) {
      const entry: NodeEntry = {
        nodeId,
        sessionId: '',
        streams: new Set(),
        timer: new HeartbeatTimer(this.#clock, this.#periodMs * this.#multiplier, () => {
          void this.#expire(entry, 'heartbeat failure for node in "unknown" state');
        }),
      };
      this.#nodes.set(nodeId, entry);
    }
    if (ids.length === 0) return;
    try {
      const result = await this.#store.batch(
        (b) => {
          for (const nodeId of ids) {
            b.update((tx) => {
              const n = tx.nodes.get(nodeId);
              if (!n || n.status?.state === 'DOWN') return;
              tx.nodes.update({
                ...n,
                status: { ...n.status, state: 'UNKNOWN', message: 'Node moved to "unknown" state due to leadership change in cluster' },
              });
            });
          }
        },
        { signal },
      );
      for (const f of result.failed) {
        this.#log.warn('moving a node to "unknown" failed', { 'node.id': ids[f.position], err: errorMessage(f.error) });
      }
    } catch (err) {
      if (!signal.aborted) this.#log.error('moving nodes to "unknown" failed', { err: errorMessage(err) });
    }
  }

  #onStoreEvent(e: StoreEvent): void {
    if (e.kind === 'commit') {
      this.#checkManagers();
      return;
    }
    if (e.table === 'clusters') {
      if (e.kind !== 'delete') this.#applyPeriod(clusterPeriodMs(e.object));
      return;
    }
    if (e.table !== 'nodes') return;
    const entry = this.#nodes.get(e.object.id);
    if (e.kind === 'delete') {
      this.#removed.add(e.object.id);
      if (entry) this.#deregister(entry, removedError(e.object.id));
      return;
    }
    if (e.kind === 'update' && entry && nodeChangedForAgent(e.old, e.object)) {
      for (const s of entry.streams) s.push?.(e.object);
    }
  }

  #applyPeriod(ms: number): void {
    const next = ms > 0 ? ms : this.#defaultPeriodMs;
    if (next === this.#periodMs) return;
    this.#log.info('heartbeat period changed', { 'heartbeat.period_ms': next, 'heartbeat.previous_ms': this.#periodMs });
    this.#periodMs = next;
  }

  // ---- managers ----

  #readManagers(): WeightedPeer[] {
    try {
      // A copy: the caller may change its list in place.
      return structuredClone(this.#managersFn());
    } catch (err) {
      this.#log.warn('reading the manager list failed', { err: errorMessage(err) });
      return this.#managers;
    }
  }

  /** Sends the manager list to every session when it changed. */
  #checkManagers(): void {
    if (!this.#running) return;
    const next = this.#readManagers();
    if (isDeepStrictEqual(next, this.#managers)) return;
    this.#managers = next;
    for (const entry of this.#nodes.values()) for (const s of entry.streams) s.push?.(undefined);
  }

  /** The manager list may change without a store change (Raft membership): look every period. */
  async #pollManagers(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#clock.sleep(this.#periodMs, signal);
      } catch {
        return;
      }
      this.#checkManagers();
    }
  }

  // ---- stop ----

  #stop(statuses: StatusBatcher): void {
    this.#running = false;
    this.#runSignal = undefined;
    this.#statuses = undefined;
    const err = unavailable(NOT_RUNNING);
    statuses.close(err);
    for (const entry of [...this.#nodes.values()]) this.#deregister(entry, err);
    this.#nodes.clear();
    this.#log.info('dispatcher stopped');
  }

  #emit(e: DispatcherEvent): void {
    try {
      this.#onEvent?.(e);
    } catch (err) {
      this.#log.warn('a dispatcher event observer threw', { err: errorMessage(err) });
    }
  }
}
