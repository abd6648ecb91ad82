// What the dispatcher's tests share: a manual clock, a reader for server
// streams, and a test bed of real gRPC over mutual TLS on 127.0.0.1 with
// certificates from ../ca.
import { Server } from '@grpc/grpc-js';
import type { ChannelCredentials, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { fromServiceError, nopLogger, swarmProto } from '@shoal/api';
import type { Cluster, Cluster__Output, DispatcherClient, Logger, WeightedPeer } from '@shoal/api';
import {
  anonymousClientCredentials,
  clientCredentials,
  clusterChannelOptions,
  createNodeCsr,
  createRootCa,
  issueNodeCertificate,
  peerIdentity,
  rootCaToProto,
  serverCredentials,
} from '../ca/index.js';
import type { NodeCertificate } from '../ca/index.js';
import { MemoryStore } from '../store/index.js';
import { ManualClock } from '../clock/clock.js';

export { ManualClock };
import { Dispatcher } from './dispatcher.js';
import type { DispatcherEvent, DispatcherOptions } from './dispatcher.js';

/** Polls `cond` (real time) until it holds. */
export async function eventually(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads a server stream message by message; remembers how it ended. */
export class StreamReader<T> {
  readonly #queue: T[] = [];
  #wake: (() => void) | undefined;
  error: Error | undefined;
  ended = false;
  readonly done: Promise<void>;

  constructor(readonly call: ClientReadableStream<T>) {
    call.on('data', (m: T) => {
      this.#queue.push(m);
      this.#wake?.();
    });
    this.done = new Promise((resolve) => {
      call.on('error', (err: ServiceError) => {
        this.error = fromServiceError(err);
        this.ended = true;
        this.#wake?.();
        resolve();
      });
      call.on('end', () => {
        this.ended = true;
        this.#wake?.();
        resolve();
      });
    });
  }

  get queued(): number {
    return this.#queue.length;
  }

  async next(timeoutMs = 3000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = this.#queue.shift();
      if (m !== undefined) return m;
      if (this.ended) throw this.error ?? new Error('stream ended');
      const left = end - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a stream message');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Resolves with the stream's error once it ended (undefined for a clean end). */
  async ended_(timeoutMs = 3000): Promise<Error | undefined> {
    await Promise.race([this.done, new Promise((r) => setTimeout(r, timeoutMs))]);
    if (!this.ended) throw new Error('the stream did not end');
    return this.error;
  }

  cancel(): void {
    this.call.cancel();
  }
}

export interface Certs {
  cluster: Cluster;
  server: NodeCertificate;
  worker: NodeCertificate & { id: string };
  worker2: NodeCertificate & { id: string };
  manager: NodeCertificate & { id: string };
}

async function certFor(cluster: Cluster__Output, role: 'worker' | 'manager', nodeId: string): Promise<NodeCertificate & { id: string }> {
  const { csrPem, keyPem } = await createNodeCsr();
  const token = cluster.root_ca?.join_tokens?.[role] ?? '';
  const issued = await issueNodeCertificate(csrPem, token, cluster, { nodeId });
  return { certPem: issued.certPem, keyPem, rootCaPem: issued.rootCaPem, id: issued.nodeId };
}

let certs: Promise<Certs> | undefined;
/** One root CA and a few node certificates for the whole test file. */
export function testCerts(): Promise<Certs> {
  certs ??= (async () => {
    const ca = await createRootCa();
    const cluster: Cluster = { id: 'cluster1', spec: { annotations: { name: 'default' } }, root_ca: rootCaToProto(ca) };
    const store = new MemoryStore();
    await store.update((tx) => void tx.clusters.create(cluster));
    const stored = store.view((tx) => tx.clusters.get('cluster1'));
    const [server, worker, worker2, manager] = await Promise.all([
      certFor(stored as Cluster__Output, 'manager', 'mgr1'),
      certFor(stored as Cluster__Output, 'worker', 'wrk1'),
      certFor(stored as Cluster__Output, 'worker', 'wrk2'),
      certFor(stored as Cluster__Output, 'manager', 'mgr2'),
    ]);
    return { cluster, server, worker, worker2, manager };
  })();
  return certs;
}

export const MANAGERS: WeightedPeer[] = [{ node_id: 'mgr1', addr: '127.0.0.1:2377', weight: '1' }];

export interface Bed {
  store: MemoryStore;
  clock: ManualClock;
  dispatcher: Dispatcher;
  addr: string;
  certs: Certs;
  events: DispatcherEvent[];
  abort: AbortController;
  running: Promise<void>;
  managers: WeightedPeer[];
  client(creds?: ChannelCredentials): DispatcherClient;
  workerClient(): DispatcherClient;
  anonymousClient(): DispatcherClient;
  close(): Promise<void>;
}

export interface BedOptions extends Partial<DispatcherOptions> {
  /** Prepares the store before the dispatcher starts. */
  seed?: (store: MemoryStore) => Promise<void>;
  /** Whether to start run() (default true). */
  start?: boolean;
  logger?: Logger;
}

/** A MemoryStore with the cluster object, a Dispatcher on a real TLS gRPC server, its run() started. */
export async function testBed(options: BedOptions = {}): Promise<Bed> {
  const c = await testCerts();
  const store = new MemoryStore();
  await store.update((tx) => void tx.clusters.create(c.cluster));
  if (options.seed) await options.seed(store);
  const clock = new ManualClock();
  const events: DispatcherEvent[] = [];
  const managers = [...MANAGERS];
  const dispatcher = new Dispatcher(store, {
    logger: nopLogger,
    clock,
    heartbeatPeriodMs: 1000,
    identify: peerIdentity,
    managers: () => managers,
    batchIntervalMs: 20,
    random: () => 0,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const server = new Server();
  server.addService(swarmProto().Dispatcher.service, dispatcher.service());
  // Anonymous callers get through TLS here so that the dispatcher's own guard is what refuses them.
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(c.server, { allowAnonymous: true }), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const addr = `127.0.0.1:${port}`;
  const abort = new AbortController();
  const running = options.start === false ? Promise.resolve() : dispatcher.run(abort.signal);
  if (options.start !== false) await eventually(() => dispatcher.running, 'the dispatcher to start');
  const clients: DispatcherClient[] = [];
  const client = (creds?: ChannelCredentials): DispatcherClient => {
    const Ctor = swarmProto().Dispatcher;
    const cl = new Ctor(addr, creds ?? clientCredentials(c.worker, 'MANAGER'), clusterChannelOptions());
    clients.push(cl);
    return cl;
  };
  return {
    store,
    clock,
    dispatcher,
    addr,
    certs: c,
    events,
    abort,
    running,
    managers,
    client,
    workerClient: () => client(clientCredentials(c.worker, 'MANAGER')),
    anonymousClient: () => client(anonymousClientCredentials(c.server.rootCaPem)),
    close: async () => {
      abort.abort();
      await running.catch(() => undefined);
      for (const cl of clients) cl.close();
      server.forceShutdown();
      store.close();
    },
  };
}

/** Unary call as a promise, errors rebuilt as ShoalErrors. */
export function unary<Req, Res>(
  fn: (req: Req, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res as Res)));
  });
}
