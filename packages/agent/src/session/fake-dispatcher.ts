// A Dispatcher server for the agent's tests: real gRPC on 127.0.0.1 without
// TLS, with assignments the test pushes and everything the agent sent
// recorded. Not a model of the real dispatcher's rules.
import { Server, ServerCredentials, status as GrpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import {
  swarmProto,
  type AssignmentChange,
  type AssignmentsMessage,
  type DispatcherHandlers,
  type SessionMessage,
  type TaskStatusUpdate__Output,
  type Task__Output,
  type AssignmentsRequest__Output,
  type SessionRequest__Output,
} from '@shoal/api';

export class FakeDispatcher {
  readonly server = new Server();
  addr = '';
  sessions: SessionRequest__Output[] = [];
  heartbeats = 0;
  assignmentStreams = 0;
  statuses: TaskStatusUpdate__Output[] = [];
  periodMs = 1000;
  /** Managers listed in the first session message. */
  managers: { node_id: string; addr: string; weight: number }[] = [];
  private sessionStreams = new Set<ServerWritableStream<SessionRequest__Output, SessionMessage>>();
  private streams = new Set<ServerWritableStream<AssignmentsRequest__Output, AssignmentsMessage>>();
  private seq = 0;
  private tasks = new Map<string, Task__Output>();
  private nextSession = 1;
  private validSession = '';

  async start(port = 0): Promise<string> {
    const handlers: DispatcherHandlers = {
      Session: (call) => {
        this.sessions.push(call.request);
        this.validSession = `s${this.nextSession++}-${this.addr}`;
        this.sessionStreams.add(call);
        call.on('cancelled', () => this.sessionStreams.delete(call));
        call.write({ session_id: this.validSession, managers: this.managers });
      },
      Heartbeat: (call, cb) => {
        if (call.request.session_id !== this.validSession) {
          cb({ code: GrpcStatus.FAILED_PRECONDITION, details: 'unknown session' });
          return;
        }
        this.heartbeats++;
        cb(null, { period: { seconds: Math.floor(this.periodMs / 1000), nanos: (this.periodMs % 1000) * 1e6 } });
      },
      UpdateTaskStatus: (call, cb) => {
        this.statuses.push(...call.request.updates);
        cb(null, {});
      },
      Assignments: (call) => {
        this.assignmentStreams++;
        this.streams.add(call);
        call.on('cancelled', () => this.streams.delete(call));
        call.write(this.complete());
      },
    };
    this.server.addService(swarmProto().Dispatcher.service, handlers);
    const bound = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.addr = `127.0.0.1:${bound}`;
    return this.addr;
  }

  /** Replaces the assigned set and tells connected agents the changes. */
  set(tasks: Task__Output[]): void {
    const changes: AssignmentChange[] = [];
    const ids = new Set(tasks.map((t) => t.id));
    for (const [id, t] of this.tasks) if (!ids.has(id)) changes.push({ action: 'REMOVE', assignment: { task: t } });
    for (const t of tasks) changes.push({ action: 'UPDATE', assignment: { task: t } });
    this.tasks = new Map(tasks.map((t) => [t.id, t]));
    this.incremental(changes);
  }

  /** Sends an INCREMENTAL message; `gap` makes its applies_to wrong. */
  incremental(changes: AssignmentChange[], gap = false): void {
    const applies = String(this.seq);
    this.seq++;
    const msg: AssignmentsMessage = { type: 'INCREMENTAL', applies_to: gap ? 'bogus' : applies, results_in: String(this.seq), changes };
    for (const s of this.streams) s.write(msg);
  }

  /** Statuses the agent reported for one task, in order. */
  states(taskId: string): string[] {
    return this.statuses.filter((u) => u.task_id === taskId).map((u) => u.status?.state ?? '');
  }

  /** Ends every session as a dying manager would (streams error, server gone). */
  async kill(): Promise<void> {
    this.server.forceShutdown();
  }

  async stop(): Promise<void> {
    for (const s of [...this.streams, ...this.sessionStreams]) s.end();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private complete(): AssignmentsMessage {
    return {
      type: 'COMPLETE',
      applies_to: '',
      results_in: String(this.seq),
      changes: [...this.tasks.values()].map((task) => ({ action: 'UPDATE', assignment: { task } })),
    };
  }
}
