// One session with one manager's Dispatcher: register (Session stream), keep
// it alive (Heartbeat at the period the manager names), take assignments
// (Assignments stream, COMPLETE then INCREMENTAL with sequence checks), and
// send status batches (UpdateTaskStatus). The session ends, with the error,
// at the first failure of any of these; the agent then reconnects.
import { Metadata } from '@grpc/grpc-js';
import {
  sleep,
  unavailable,
  type AssignmentsMessage__Output,
  type DispatcherClient,
  type Logger,
  type NodeDescription,
  type Node__Output,
  type SessionMessage__Output,
  type Task__Output,
  type WeightedPeer__Output,
} from '@shoal/api';
import type { StatusBatcher, TaskStatusUpdate } from '../worker/reporter.js';
import type { AssignmentUpdate } from '../worker/worker.js';
import { messages, unary } from './grpc-call.js';

/** What a session drives: the worker's side of assignments. */
export interface AssignmentTarget {
  assign(tasks: Task__Output[], signal: AbortSignal): Promise<void>;
  update(u: AssignmentUpdate): Promise<void>;
  configure(node: Node__Output, signal: AbortSignal): Promise<void>;
  reportAll(): void;
}

export interface SessionOptions {
  client: DispatcherClient;
  description: NodeDescription;
  previousSessionId: string;
  target: AssignmentTarget;
  batcher: StatusBatcher;
  logger: Logger;
  /** Extra metadata on every call (tests; production identity is the TLS certificate). */
  metadata?: () => Metadata;
  /** How long to wait for the Session stream's first message and for each unary call (default 10 s). */
  callTimeoutMs?: number;
  /** Heartbeat period when the manager names none (default 5 s). */
  defaultPeriodMs?: number;
  /** Called once the session is registered. */
  onOpen?: (sessionId: string) => void;
  /** Called with the manager list whenever the manager sends one. */
  onManagers?: (managers: WeightedPeer__Output[]) => void;
  onNode?: (node: Node__Output) => void;
}

/**
 * Runs one session until `signal` aborts (resolves) or something fails
 * (rejects with the failure, e.g. Unavailable when the manager is gone).
 * Returns the session ID it had.
 */
export async function runSession(o: SessionOptions, signal: AbortSignal): Promise<string> {
  const ctl = new AbortController();
  const onParentAbort = (): void => ctl.abort(signal.reason);
  signal.addEventListener('abort', onParentAbort, { once: true });
  const s = ctl.signal;
  const md = (): Metadata => o.metadata?.() ?? new Metadata();
  const timeout = o.callTimeoutMs ?? 10_000;
  let failure: unknown;
  const fail = (err: unknown): void => {
    if (s.aborted) return;
    failure = err;
    ctl.abort(err);
  };

  try {
    // 1. Register.
    const stream = messages(
      o.client.Session({ description: o.description, previous_session_id: o.previousSessionId }, md()),
      s,
    );
    const firstTimer = setTimeout(() => fail(unavailable(`the manager did not open a session within ${timeout} ms`)), timeout);
    let first: IteratorResult<SessionMessage__Output>;
    try {
      first = await stream.next();
    } finally {
      clearTimeout(firstTimer);
    }
    if (first.done || !first.value.session_id) throw unavailable('the manager closed the session before it opened');
    const sessionId = first.value.session_id;
    const log = o.logger.child({ 'session.id': sessionId });
    log.info('session open');
    o.onOpen?.(sessionId);
    const onSession = async (m: SessionMessage__Output): Promise<void> => {
      if (m.managers.length > 0) o.onManagers?.(m.managers);
      if (m.node) {
        o.onNode?.(m.node);
        await o.target.configure(m.node, s);
      }
    };
    await onSession(first.value);

    // 2. The rest of the Session stream: node and manager updates; its end ends the session.
    const sessionLoop = (async () => {
      for await (const m of stream) await onSession(m);
      throw unavailable('the manager ended the session');
    })();

    // 3. Heartbeats.
    const heartbeatLoop = (async () => {
      for (;;) {
        const res = await unary<{ period: { seconds: string; nanos: number } | null }>(
          (m, opts, cb) => o.client.Heartbeat({ session_id: sessionId }, m, opts, cb),
          md(),
          s,
          timeout,
        );
        const ms = res.period ? Number(res.period.seconds) * 1000 + Math.floor(res.period.nanos / 1e6) : 0;
        await sleep(ms > 0 ? ms : (o.defaultPeriodMs ?? 5000), s);
      }
    })();

    // 4. Status batches go out through this session while it lives.
    const send = async (updates: TaskStatusUpdate[], sig: AbortSignal): Promise<void> => {
      await unary(
        (m, opts, cb) => o.client.UpdateTaskStatus({ session_id: sessionId, updates }, m, opts, cb),
        md(),
        sig,
        timeout,
      );
    };
    o.batcher.attach(send, s);
    o.target.reportAll();

    // 5. Assignments, reopened on a sequence gap.
    const assignmentsLoop = (async () => {
      for (;;) {
        const gap = await followAssignments(o, sessionId, md(), s, log);
        log.warn('assignment sequence gap; resyncing', { expected: gap.expected, got: gap.got });
      }
    })();

    await Promise.race([sessionLoop, heartbeatLoop, assignmentsLoop].map((p) => p.catch((err: unknown) => {
      fail(err);
      throw err;
    })));
    return sessionId;
  } catch (err) {
    if (signal.aborted) return o.previousSessionId;
    throw failure ?? err;
  } finally {
    signal.removeEventListener('abort', onParentAbort);
    ctl.abort(new DOMException('the session ended', 'AbortError'));
    o.batcher.detach();
  }
}

/** Applies one Assignments stream until a sequence gap (returned) or an error (thrown). */
async function followAssignments(
  o: SessionOptions,
  sessionId: string,
  md: Metadata,
  s: AbortSignal,
  log: Logger,
): Promise<{ expected: string; got: string }> {
  let sequence: string | undefined;
  for await (const msg of messages(o.client.Assignments({ session_id: sessionId }, md), s)) {
    if (msg.type === 'COMPLETE') {
      await o.target.assign(tasksOf(msg), s);
    } else {
      if (sequence === undefined || msg.applies_to !== sequence) return { expected: sequence ?? '(a complete set)', got: msg.applies_to };
      await o.target.update(changesOf(msg));
    }
    sequence = msg.results_in;
    log.debug('assignments applied', { type: msg.type, changes: msg.changes.length, sequence });
  }
  throw unavailable('the manager ended the assignments stream');
}

function tasksOf(msg: AssignmentsMessage__Output): Task__Output[] {
  const out: Task__Output[] = [];
  for (const c of msg.changes) if (c.action === 'UPDATE' && c.assignment?.task) out.push(c.assignment.task);
  return out;
}

function changesOf(msg: AssignmentsMessage__Output): AssignmentUpdate {
  const u: AssignmentUpdate = { updated: [], removed: [] };
  for (const c of msg.changes) {
    const t = c.assignment?.task;
    if (!t) continue; // secrets and configs: not used by the executors yet
    if (c.action === 'REMOVE') u.removed.push(t.id);
    else u.updated.push(t);
  }
  return u;
}
