// The dispatcher over real gRPC with mutual TLS on 127.0.0.1, certificates
// from ../ca, a MemoryStore, and a manual clock for heartbeat deadlines.
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import test from 'ava';
import { errorCode, swarmProto } from '@shoal/api';
import type {
  AssignmentsMessage__Output,
  DispatcherClient,
  HeartbeatResponse__Output,
  Node,
  SessionMessage__Output,
  Task,
  TaskState__Output,
  UpdateTaskStatusResponse__Output,
} from '@shoal/api';
import type { MemoryStore } from '../store/index.js';
import { StreamReader, eventually, testBed, unary } from './test-helpers.js';
import type { Bed } from './test-helpers.js';

const description = (hostname: string) => ({ hostname, platform: { os: 'linux', architecture: 'amd64' } });

async function openSession(client: DispatcherClient, hostname = 'host-1') {
  const reader = new StreamReader<SessionMessage__Output>(client.Session({ description: description(hostname) }));
  const first = await reader.next();
  return { reader, first, sessionId: first.session_id };
}

const heartbeat = (client: DispatcherClient, sessionId: string) =>
  unary<{ session_id: string }, HeartbeatResponse__Output>(client.Heartbeat.bind(client), { session_id: sessionId });

const report = (client: DispatcherClient, sessionId: string, updates: Array<[string, TaskState__Output]>) =>
  unary<object, UpdateTaskStatusResponse__Output>(client.UpdateTaskStatus.bind(client), {
    session_id: sessionId,
    updates: updates.map(([task_id, state]) => ({ task_id, status: { state, message: state.toLowerCase() } })),
  });

const nodeState = (store: MemoryStore, id: string) => store.view((tx) => tx.nodes.get(id)?.status?.state);
const taskState = (store: MemoryStore, id: string) => store.view((tx) => tx.tasks.get(id)?.status?.state);

function task(id: string, nodeId: string, state: TaskState__Output, extra: Partial<Task> = {}): Task {
  return {
    id,
    service_id: 'svc1',
    slot: 1,
    node_id: nodeId,
    service_annotations: { name: 'web' },
    desired_state: 'RUNNING',
    status: { state, message: 'scheduled' },
    spec: { container: { image: 'busybox:latest' } },
    ...extra,
  };
}

function workerNode(id: string, state: 'READY' | 'DOWN' = 'READY'): Node {
  return {
    id,
    role: 'WORKER',
    spec: { membership: 'ACCEPTED', availability: 'ACTIVE', desired_role: 'WORKER' },
    description: description(id),
    status: { state, addr: '10.0.0.9' },
  };
}

async function withBed(options: Parameters<typeof testBed>[0], fn: (bed: Bed) => Promise<void>): Promise<void> {
  const bed = await testBed(options);
  try {
    await fn(bed);
  } finally {
    await bed.close();
  }
}

test('a session registers the node from its certificate and hands out a session id, the node and the managers', async (t) => {
  await withBed({}, async (bed) => {
    const { first, reader } = await openSession(bed.workerClient(), 'worker-host');
    t.truthy(first.session_id);
    t.is(first.node?.id, bed.certs.worker.id);
    t.deepEqual(first.managers, bed.managers);
    const n = bed.store.view((tx) => tx.nodes.get(bed.certs.worker.id));
    t.is(n?.status?.state, 'READY');
    t.is(n?.status?.addr, '127.0.0.1');
    t.is(n?.role, 'WORKER');
    t.is(n?.description?.hostname, 'worker-host');
    t.is(n?.spec?.membership, 'ACCEPTED');
    t.is(bed.dispatcher.stats.sessionsOpen, 1);
    reader.cancel();
    await eventually(() => bed.dispatcher.stats.sessionsOpen === 0, 'the session to close');
  });
});

test('an existing node keeps its spec and gets the new description, READY and its address', async (t) => {
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        await store.update((tx) => {
          const n = workerNode(c.worker.id, 'DOWN');
          tx.nodes.create({ ...n, spec: { ...n.spec, availability: 'DRAIN', annotations: { name: 'named', labels: { a: 'b' } } } });
        });
      },
    },
    async (bed) => {
      const { first } = await openSession(bed.workerClient(), 'new-hostname');
      t.is(first.node?.spec?.availability, 'DRAIN');
      const n = bed.store.view((tx) => tx.nodes.get(bed.certs.worker.id));
      t.is(n?.status?.state, 'READY');
      t.is(n?.description?.hostname, 'new-hostname');
      t.deepEqual(n?.spec?.annotations?.labels, { a: 'b' });
    },
  );
});

test('a manager certificate works too, and the node gets the manager role', async (t) => {
  await withBed({}, async (bed) => {
    const { clientCredentials } = await import('../ca/index.js');
    const { first } = await openSession(bed.client(clientCredentials(bed.certs.manager, 'MANAGER')));
    t.is(first.node?.role, 'MANAGER');
    t.is(bed.store.view((tx) => tx.nodes.get(bed.certs.manager.id)?.role), 'MANAGER');
  });
});

test('a caller without a certificate is refused on every method', async (t) => {
  await withBed({}, async (bed) => {
    const anon = bed.anonymousClient();
    const reader = new StreamReader<SessionMessage__Output>(anon.Session({ description: description('x') }));
    const err = await reader.ended_();
    t.is(errorCode(err), 'PermissionDenied');
    t.regex(err?.message ?? '', /needs a swarm node certificate; the caller presented none/);
    t.is(errorCode(await t.throwsAsync(heartbeat(anon, 'whatever'))), 'PermissionDenied');
    t.is(errorCode(await t.throwsAsync(report(anon, 'whatever', []))), 'PermissionDenied');
    const assignments = new StreamReader<AssignmentsMessage__Output>(anon.Assignments({ session_id: 'x' }));
    t.is(errorCode(await assignments.ended_()), 'PermissionDenied');
    t.is(bed.store.view((tx) => tx.nodes.find().length), 0);
  });
});

test('heartbeats keep a node READY; missing them marks it DOWN in one update and ends its session', async (t) => {
  await withBed({}, async (bed) => {
    const client = bed.workerClient();
    const { sessionId, reader } = await openSession(client);
    const id = bed.certs.worker.id;
    const res = await heartbeat(client, sessionId);
    t.deepEqual(res.period, { seconds: '1', nanos: 0 });
    // Deadline = period × 3 = 3 s; beat every 2.5 s for a while.
    for (let i = 0; i < 4; i++) {
      await bed.clock.advance(2500);
      t.is(nodeState(bed.store, id), 'READY');
      await heartbeat(client, sessionId);
    }
    const watcher = bed.store.watch({ tables: ['nodes'] });
    await bed.clock.advance(3001);
    await eventually(() => nodeState(bed.store, id) === 'DOWN', 'the node to be marked down');
    const changes = watcher.drain().filter((e) => e.kind !== 'commit');
    watcher.close();
    t.is(changes.length, 1, 'one store update');
    t.regex(bed.store.view((tx) => tx.nodes.get(id)?.status?.message) ?? '', /heartbeat failure/);
    t.is(bed.dispatcher.stats.nodesMarkedDown, 1);
    t.true(bed.events.some((e) => e.kind === 'node-down' && e.nodeId === id));
    t.is(bed.dispatcher.stats.heartbeats, 5);
    const ended = await reader.ended_();
    t.is(errorCode(ended), 'FailedPrecondition');
    const stale = await t.throwsAsync(heartbeat(client, sessionId));
    t.is(errorCode(stale), 'FailedPrecondition');
    t.regex(stale?.message ?? '', /open a new session/);
    // The node comes back with a new session.
    await openSession(client);
    t.is(nodeState(bed.store, id), 'READY');
  });
});

test('the heartbeat period comes from the cluster spec when it sets one', async (t) => {
  await withBed({}, async (bed) => {
    await bed.store.update((tx) => {
      const c = tx.clusters.get('cluster1');
      if (c) tx.clusters.update({ ...c, spec: { ...c.spec, dispatcher: { heartbeat_period: { seconds: '2', nanos: 0 } } } });
    });
    await eventually(() => bed.dispatcher.heartbeatPeriodMs === 2000, 'the new period');
    const client = bed.workerClient();
    const { sessionId } = await openSession(client);
    t.deepEqual((await heartbeat(client, sessionId)).period, { seconds: '2', nanos: 0 });
    await bed.clock.advance(5900);
    t.is(nodeState(bed.store, bed.certs.worker.id), 'READY');
    await bed.clock.advance(200);
    await eventually(() => nodeState(bed.store, bed.certs.worker.id) === 'DOWN', 'the node to be marked down');
  });
});

test('a new leader moves nodes to UNKNOWN and gives them a grace period before marking them DOWN', async (t) => {
  let ids: { w1: string; w2: string } = { w1: '', w2: '' };
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        ids = { w1: c.worker.id, w2: c.worker2.id };
        await store.update((tx) => {
          tx.nodes.create(workerNode(c.worker.id));
          tx.nodes.create(workerNode(c.worker2.id));
          tx.nodes.create(workerNode('gone-before', 'DOWN'));
        });
      },
    },
    async (bed) => {
      t.is(nodeState(bed.store, ids.w1), 'UNKNOWN');
      t.is(nodeState(bed.store, ids.w2), 'UNKNOWN');
      t.is(nodeState(bed.store, 'gone-before'), 'DOWN');
      t.regex(bed.store.view((tx) => tx.nodes.get(ids.w1)?.status?.message) ?? '', /leadership change/);
      // w1 reconnects within the grace period; w2 never does.
      await bed.clock.advance(2000);
      const client = bed.workerClient();
      const { sessionId } = await openSession(client);
      t.is(nodeState(bed.store, ids.w1), 'READY');
      await bed.clock.advance(1500);
      await eventually(() => nodeState(bed.store, ids.w2) === 'DOWN', 'w2 to be marked down');
      t.is(nodeState(bed.store, ids.w1), 'READY');
      await heartbeat(client, sessionId);
      t.is(bed.dispatcher.stats.nodesMarkedDown, 1);
    },
  );
});

test('status updates land in the store batched, never go backwards, and are ignored for another node\'s task', async (t) => {
  let w1 = '';
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        w1 = c.worker.id;
        await store.update((tx) => {
          tx.tasks.create(task('t1', c.worker.id, 'ASSIGNED'));
          tx.tasks.create(task('t2', c.worker.id, 'ASSIGNED'));
          tx.tasks.create(task('t3', c.worker2.id, 'ASSIGNED'));
        });
      },
    },
    async (bed) => {
      const client = bed.workerClient();
      const { sessionId } = await openSession(client);
      const watcher = bed.store.watch({ tables: ['tasks'] });
      // Two calls inside one batch interval: one store batch.
      await Promise.all([
        report(client, sessionId, [['t1', 'PREPARING'], ['t3', 'RUNNING']]),
        report(client, sessionId, [['t1', 'RUNNING'], ['t2', 'ACCEPTED'], ['nope', 'RUNNING']]),
      ]);
      t.is(taskState(bed.store, 't1'), 'RUNNING');
      t.is(taskState(bed.store, 't2'), 'ACCEPTED');
      t.is(taskState(bed.store, 't3'), 'ASSIGNED', "another node's task is not touched");
      const events = watcher.drain();
      t.is(events.filter((e) => e.kind === 'commit').length, 1, 'one proposal for both calls');
      t.is(bed.store.view((tx) => tx.tasks.get('t1')?.status?.message), 'running');
      t.truthy(bed.store.view((tx) => tx.tasks.get('t1')?.status?.timestamp), 'a timestamp is filled in');

      await report(client, sessionId, [['t1', 'STARTING'], ['t2', 'PREPARING']]);
      t.is(taskState(bed.store, 't1'), 'RUNNING', 'never backwards');
      t.is(taskState(bed.store, 't2'), 'PREPARING');
      await report(client, sessionId, [['t1', 'FAILED']]);
      t.is(taskState(bed.store, 't1'), 'FAILED');
      t.is(bed.store.view((tx) => tx.tasks.get('t1')?.node_id), w1);
      watcher.close();
      t.true(bed.dispatcher.stats.statusBatches >= 3);

      const stale = await t.throwsAsync(report(client, 'not-my-session', [['t2', 'RUNNING']]));
      t.is(errorCode(stale), 'FailedPrecondition');
      t.is(taskState(bed.store, 't2'), 'PREPARING');
    },
  );
});

function changesOf(m: AssignmentsMessage__Output): string[] {
  return m.changes
    .map((c) => {
      const a = c.assignment;
      const what = a?.task ? `task:${a.task.id}` : a?.secret ? `secret:${a.secret.id}` : `config:${a?.config?.id ?? ''}`;
      return `${c.action} ${what}`;
    })
    .sort();
}

test('assignments: a complete set, then incremental adds, updates and removes; a reconnect gets a fresh complete set', async (t) => {
  let w1 = '';
  let w2 = '';
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        w1 = c.worker.id;
        w2 = c.worker2.id;
        await store.update((tx) => {
          tx.secrets.create({ id: 'sec1', spec: { annotations: { name: 'pw' }, data: Buffer.from('hunter2') } });
          tx.tasks.create(task('a', w1, 'ASSIGNED', { spec: { container: { image: 'x', secrets: [{ secret_id: 'sec1', secret_name: 'pw' }] } } }));
          tx.tasks.create(task('b', w1, 'PENDING'));
          tx.tasks.create(task('c', w2, 'ASSIGNED'));
        });
      },
    },
    async (bed) => {
      const client = bed.workerClient();
      const { sessionId } = await openSession(client);
      const stream = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
      const complete = await stream.next();
      t.is(complete.type, 'COMPLETE');
      t.is(complete.applies_to, '');
      t.deepEqual(changesOf(complete), ['UPDATE secret:sec1', 'UPDATE task:a']);
      const secret = complete.changes.find((c) => c.assignment?.secret)?.assignment?.secret;
      t.is(Buffer.from(secret?.spec?.data ?? []).toString(), 'hunter2');

      // b gets scheduled: added.
      await bed.store.update((tx) => {
        const b = tx.tasks.get('b');
        if (b) tx.tasks.update({ ...b, status: { state: 'ASSIGNED', message: 'scheduled' } });
      });
      const m1 = await stream.next();
      t.is(m1.type, 'INCREMENTAL');
      t.is(m1.applies_to, complete.results_in);
      t.deepEqual(changesOf(m1), ['UPDATE task:b']);

      // The agent's own report is not echoed back...
      await report(client, sessionId, [['b', 'RUNNING']]);
      // ...but a manager's change is: a wants to stop.
      await bed.store.update((tx) => {
        const a = tx.tasks.get('a');
        if (a) tx.tasks.update({ ...a, desired_state: 'SHUTDOWN' });
      });
      const m2 = await stream.next();
      t.is(m2.applies_to, m1.results_in);
      t.deepEqual(changesOf(m2), ['UPDATE task:a']);
      t.is(m2.changes[0]?.assignment?.task?.desired_state, 'SHUTDOWN');

      // a stops: its secret is withdrawn; then a is removed (desired REMOVE after stopping), b deleted.
      await report(client, sessionId, [['a', 'SHUTDOWN']]);
      const m3 = await stream.next();
      t.deepEqual(changesOf(m3), ['REMOVE secret:sec1']);
      await bed.store.update((tx) => {
        const a = tx.tasks.get('a');
        if (a) tx.tasks.update({ ...a, desired_state: 'REMOVE' });
        tx.tasks.delete('b');
        const c = tx.tasks.get('c');
        if (c) tx.tasks.update({ ...c, desired_state: 'SHUTDOWN' }); // another node's: not sent
      });
      const m4 = await stream.next();
      t.is(m4.applies_to, m3.results_in);
      t.deepEqual(changesOf(m4), ['REMOVE task:a', 'REMOVE task:b']);
      await new Promise((r) => setTimeout(r, 80));
      t.is(stream.queued, 0, 'nothing else was sent');

      // A reconnect gets a complete set of what is assigned now.
      stream.cancel();
      await bed.store.update((tx) => void tx.tasks.create(task('d', w1, 'ASSIGNED')));
      const again = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
      const fresh = await again.next();
      t.is(fresh.type, 'COMPLETE');
      t.deepEqual(changesOf(fresh), ['UPDATE task:d']);
      again.cancel();
    },
  );
});

test('a node that comes back is sent the tasks replaced meanwhile, with desired SHUTDOWN', async (t) => {
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        await store.update((tx) => {
          tx.nodes.create(workerNode(c.worker.id, 'DOWN'));
          tx.tasks.create(task('old', c.worker.id, 'RUNNING', { desired_state: 'SHUTDOWN' }));
        });
      },
    },
    async (bed) => {
      const client = bed.workerClient();
      const { sessionId } = await openSession(client);
      t.is(nodeState(bed.store, bed.certs.worker.id), 'READY');
      const stream = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
      const complete = await stream.next();
      t.deepEqual(changesOf(complete), ['UPDATE task:old']);
      t.is(complete.changes[0]?.assignment?.task?.desired_state, 'SHUTDOWN');
      await report(client, sessionId, [['old', 'SHUTDOWN']]);
      t.is(taskState(bed.store, 'old'), 'SHUTDOWN');
      stream.cancel();
    },
  );
});

test('many changes at once are sent in one incremental message', async (t) => {
  await withBed({}, async (bed) => {
    const client = bed.workerClient();
    const { sessionId } = await openSession(client);
    const stream = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
    t.deepEqual((await stream.next()).changes, []);
    await bed.store.update((tx) => {
      for (let i = 0; i < 50; i++) tx.tasks.create(task(`t${i}`, bed.certs.worker.id, 'ASSIGNED'));
    });
    const m = await stream.next();
    t.is(m.changes.length, 50);
    stream.cancel();
  });
});

test('assignments with a stale session are refused', async (t) => {
  await withBed({}, async (bed) => {
    const client = bed.workerClient();
    await openSession(client);
    const stream = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: 'stale' }));
    t.is(errorCode(await stream.ended_()), 'FailedPrecondition');
  });
});

test('a new session replaces the old one: its streams end', async (t) => {
  await withBed({}, async (bed) => {
    const client = bed.workerClient();
    const first = await openSession(client);
    const assignments = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: first.sessionId }));
    await assignments.next();
    const second = await openSession(client);
    t.not(second.sessionId, first.sessionId);
    t.is(errorCode(await first.reader.ended_()), 'FailedPrecondition');
    t.is(errorCode(await assignments.ended_()), 'FailedPrecondition');
    await heartbeat(client, second.sessionId);
    t.is(errorCode(await t.throwsAsync(heartbeat(client, first.sessionId))), 'FailedPrecondition');
  });
});

test('the session sends the node again when a manager changes it, and the managers when they change', async (t) => {
  await withBed({}, async (bed) => {
    const { reader } = await openSession(bed.workerClient());
    const id = bed.certs.worker.id;
    await bed.store.update((tx) => {
      const n = tx.nodes.get(id);
      if (n) tx.nodes.update({ ...n, spec: { ...n.spec, availability: 'DRAIN' } });
    });
    const m = await reader.next();
    t.is(m.node?.spec?.availability, 'DRAIN');
    bed.managers.push({ node_id: 'mgr2', addr: '127.0.0.1:2378', weight: '1' });
    await bed.clock.advance(1000); // the periodic look at the manager list
    const m2 = await reader.next();
    t.deepEqual(m2.managers.map((p) => p.node_id), ['mgr1', 'mgr2']);
  });
});

test('a removed node is told so, on its open session and when it opens another', async (t) => {
  await withBed({}, async (bed) => {
    const client = bed.workerClient();
    const { reader } = await openSession(client);
    const id = bed.certs.worker.id;
    await bed.store.update((tx) => tx.nodes.delete(id));
    const err = await reader.ended_();
    t.is(errorCode(err), 'PermissionDenied');
    t.regex(err?.message ?? '', new RegExp(`node ${id} was removed from the swarm`));
    const again = new StreamReader<SessionMessage__Output>(client.Session({ description: description('h') }));
    t.regex((await again.ended_())?.message ?? '', /was removed from the swarm/);
    t.is(bed.store.view((tx) => tx.nodes.get(id)), undefined);
  });
});

test("a node in the cluster's removed list is refused by a new leader too", async (t) => {
  await withBed(
    {
      seed: async (store) => {
        const c = await import('./test-helpers.js').then((m) => m.testCerts());
        await store.update((tx) => {
          const cl = tx.clusters.get('cluster1');
          if (cl) tx.clusters.update({ ...cl, removed_nodes: [{ id: c.worker.id }] });
        });
      },
    },
    async (bed) => {
      const reader = new StreamReader<SessionMessage__Output>(bed.workerClient().Session({ description: description('h') }));
      const err = await reader.ended_();
      t.is(errorCode(err), 'PermissionDenied');
      t.regex(err?.message ?? '', /was removed from the swarm/);
    },
  );
});

test('with createMissingNodes off, a certificate without a Node object counts as removed', async (t) => {
  await withBed({ createMissingNodes: false }, async (bed) => {
    const reader = new StreamReader<SessionMessage__Output>(bed.workerClient().Session({ description: description('h') }));
    t.regex((await reader.ended_())?.message ?? '', /was removed from the swarm/);
    t.is(bed.store.view((tx) => tx.nodes.find().length), 0);
    t.is(bed.dispatcher.trackedNodes, 0);
  });
});

test("streams end with UNAVAILABLE when run's signal aborts, and calls are refused until it runs again", async (t) => {
  const bed = await testBed({});
  try {
    const client = bed.workerClient();
    const { reader, sessionId } = await openSession(client);
    const assignments = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
    await assignments.next();
    bed.abort.abort();
    await bed.running;
    t.is(errorCode(await reader.ended_()), 'Unavailable');
    t.is(errorCode(await assignments.ended_()), 'Unavailable');
    const refused = await t.throwsAsync(heartbeat(client, sessionId));
    t.is(errorCode(refused), 'Unavailable');
    t.regex(refused?.message ?? '', /not running on this manager/);
    t.false(bed.dispatcher.running);
    t.is(bed.dispatcher.trackedNodes, 0);

    // Leadership comes back: a fresh run accepts sessions again.
    const again = new AbortController();
    const running = bed.dispatcher.run(again.signal);
    await eventually(() => bed.dispatcher.running, 'the second run');
    t.is(nodeState(bed.store, bed.certs.worker.id), 'UNKNOWN');
    await openSession(client);
    t.is(nodeState(bed.store, bed.certs.worker.id), 'READY');
    again.abort();
    await running;
  } finally {
    await bed.close();
  }
});

// ---- a node's session lost: the disconnect grace ----

/** A TCP relay in front of the dispatcher whose connections can be reset (as when a node's daemon dies). */
async function resettableRelay(target: string): Promise<{ addr: string; reset(): void; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = server.address() as AddressInfo;
  return {
    addr: `127.0.0.1:${relayPort}`,
    reset: () => {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        for (const s of pair) s.resetAndDestroy();
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function relayedWorker(bed: Bed) {
  const relay = await resettableRelay(bed.addr);
  const { clientCredentials, clusterChannelOptions } = await import('../ca/index.js');
  const Ctor = swarmProto().Dispatcher;
  const client = new Ctor(relay.addr, clientCredentials(bed.certs.worker, 'MANAGER'), clusterChannelOptions());
  return { relay, client };
}

test('a session whose connection resets marks the node DOWN after the disconnect grace, long before its heartbeat deadline', async (t) => {
  await withBed({ disconnectGraceMs: 2000, heartbeatPeriodMs: 5000 }, async (bed) => {
    const { relay, client } = await relayedWorker(bed);
    try {
      const id = bed.certs.worker.id;
      const { sessionId } = await openSession(client);
      await heartbeat(client, sessionId);
      const assignments = new StreamReader<AssignmentsMessage__Output>(client.Assignments({ session_id: sessionId }));
      await assignments.next();
      relay.reset(); // the node's daemon died: its TCP connections reset
      await eventually(() => bed.dispatcher.stats.sessionsOpen === 0, 'the dispatcher to see the session end');
      await bed.clock.advance(1999);
      t.is(nodeState(bed.store, id), 'READY', 'still within the grace');
      await bed.clock.advance(1);
      await eventually(() => nodeState(bed.store, id) === 'DOWN', 'the node to be marked down');
      t.regex(bed.store.view((tx) => tx.nodes.get(id)?.status?.message) ?? '', /node disconnected/);
      t.is(bed.dispatcher.stats.nodesMarkedDown, 1);
      t.true(bed.events.some((e) => e.kind === 'node-down' && e.nodeId === id));
      t.is(bed.dispatcher.trackedNodes, 0);
    } finally {
      client.close();
      await relay.close();
    }
  });
});

test('a node that opens a new session within the disconnect grace is never marked DOWN; its old session is over', async (t) => {
  await withBed({ disconnectGraceMs: 2000 }, async (bed) => {
    const id = bed.certs.worker.id;
    const client = bed.workerClient();
    const first = await openSession(client);
    first.reader.cancel(); // a quick daemon restart (SIGTERM): the agent hangs up…
    await eventually(() => bed.dispatcher.stats.sessionsOpen === 0, 'the session to close');
    const stale = await t.throwsAsync(heartbeat(client, first.sessionId));
    t.is(errorCode(stale), 'FailedPrecondition', 'the lost session takes no heartbeats');
    await bed.clock.advance(1500);
    const second = await openSession(client, 'host-1'); // …and is back within the grace
    t.not(second.sessionId, first.sessionId);
    await bed.clock.advance(1000); // past the first session's grace
    await heartbeat(client, second.sessionId);
    await bed.clock.advance(2500);
    await heartbeat(client, second.sessionId);
    await new Promise((r) => setTimeout(r, 50));
    t.is(nodeState(bed.store, id), 'READY');
    t.is(bed.dispatcher.stats.nodesMarkedDown, 0);

    // The same through a reset connection: a new session from a new connection in time.
    const { relay, client: relayed } = await relayedWorker(bed);
    try {
      const third = await openSession(relayed);
      relay.reset();
      await eventually(() => bed.dispatcher.stats.sessionsOpen === 1, 'the reset session to end (the second one was replaced)');
      await bed.clock.advance(1000);
      const fourth = await openSession(client);
      t.not(fourth.sessionId, third.sessionId);
      await bed.clock.advance(1500);
      await new Promise((r) => setTimeout(r, 50));
      t.is(nodeState(bed.store, id), 'READY');
      t.is(bed.dispatcher.stats.nodesMarkedDown, 0);
    } finally {
      relayed.close();
      await relay.close();
    }
  });
});

test('sessions that end because the dispatcher stops (leadership lost) mark no node DOWN, nor do drops just before the stop', async (t) => {
  const bed = await testBed({ disconnectGraceMs: 2000 });
  try {
    const w2 = bed.certs.worker2.id;
    const { clientCredentials } = await import('../ca/index.js');
    const client = bed.workerClient();
    const { reader } = await openSession(client);
    // wrk2 drops its session just before the leader steps down.
    const other = await openSession(bed.client(clientCredentials(bed.certs.worker2, 'MANAGER')));
    other.reader.cancel();
    await eventually(() => bed.dispatcher.stats.sessionsOpen === 1, 'wrk2 session to close');
    bed.abort.abort();
    await bed.running;
    t.is(errorCode(await reader.ended_()), 'Unavailable');
    await bed.clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    t.is(nodeState(bed.store, bed.certs.worker.id), 'READY');
    t.is(nodeState(bed.store, w2), 'READY');
    t.is(bed.dispatcher.stats.nodesMarkedDown, 0);
  } finally {
    await bed.close();
  }
});

test("the dispatcher's own node and a grace of 0 keep only the heartbeat deadline", async (t) => {
  const { testCerts } = await import('./test-helpers.js');
  const id = (await testCerts()).worker.id;
  for (const options of [{ localNodeId: id }, { disconnectGraceMs: 0 }]) {
    await withBed({ heartbeatPeriodMs: 1000, ...options }, async (bed) => {
      const { reader } = await openSession(bed.workerClient());
      reader.cancel();
      await eventually(() => bed.dispatcher.stats.sessionsOpen === 0, 'the session to close');
      await bed.clock.advance(2500);
      t.is(nodeState(bed.store, id), 'READY', JSON.stringify(options));
      await bed.clock.advance(600); // the heartbeat deadline (3 s)
      await eventually(() => nodeState(bed.store, id) === 'DOWN', 'the heartbeat deadline to mark it down');
    });
  }
});
