// Real gRPC over TLS on 127.0.0.1: who gets in, and who the server sees.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { Server, makeGenericClientConstructor } from '@grpc/grpc-js';
import type {
  ChannelCredentials,
  Client,
  ServerCredentials,
  ServiceDefinition,
  handleUnaryCall,
  sendUnaryData,
  ServerUnaryCall,
  ServiceError,
} from '@grpc/grpc-js';
import { errorCode, fromServiceError, toServiceError } from '@shoal/api';
import type { Cluster__Output } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { issueNodeCertificate } from './issuer.js';
import { createNodeCsr } from './node-cert.js';
import type { NodeCertificate } from './node-cert.js';
import { createRootCa, rootCaToProto, verifyRootCa } from './root-ca.js';
import {
  anonymousClientCredentials,
  authorize,
  bootstrapClientCredentials,
  clientCredentials,
  clusterChannelOptions,
  peerIdentity,
  serverCredentials,
} from './tls.js';
import type { CallWithAuthContext, PeerIdentity } from './tls.js';

type Json = Record<string, unknown>;
const ser = (v: Json): Buffer => Buffer.from(JSON.stringify(v));
const de = (b: Buffer): Json => JSON.parse(b.toString()) as Json;
const method = (name: string) => ({
  path: `/shoal.test.Cluster/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
});
const definition: ServiceDefinition = {
  whoami: method('Whoami'),
  managerOnly: method('ManagerOnly'),
  getRootCa: method('GetRootCa'),
  join: method('Join'),
};
const TestClient = makeGenericClientConstructor(definition, 'Cluster');

interface Fixture {
  cluster: Cluster__Output;
  rootCaPem: string;
  managerServer: NodeCertificate;
  manager: NodeCertificate & { id: string };
  worker: NodeCertificate & { id: string };
  foreign: NodeCertificate;
}

async function certFor(cluster: Cluster__Output, role: 'worker' | 'manager', nodeId?: string): Promise<NodeCertificate & { id: string }> {
  const { csrPem, keyPem } = await createNodeCsr();
  const token = cluster.root_ca?.join_tokens?.[role] ?? '';
  const issued = await issueNodeCertificate(csrPem, token, cluster, nodeId ? { nodeId } : {});
  return { certPem: issued.certPem, keyPem, rootCaPem: issued.rootCaPem, id: issued.nodeId };
}

async function makeCluster(id: string): Promise<Cluster__Output> {
  const store = new MemoryStore();
  const ca = await createRootCa();
  await store.update((tx) => {
    tx.clusters.create({ id, spec: { annotations: { name: 'default' } }, root_ca: rootCaToProto(ca) });
  });
  const c = store.view((tx) => tx.clusters.get(id));
  if (!c) throw new Error('no cluster');
  return c;
}

let fixture: Promise<Fixture> | undefined;
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const cluster = await makeCluster('clusterA');
    const other = await makeCluster('clusterB');
    const [managerServer, manager, worker, foreign] = await Promise.all([
      certFor(cluster, 'manager', 'mgr-server'),
      certFor(cluster, 'manager', 'mgr-client'),
      certFor(cluster, 'worker', 'wrk-client'),
      certFor(other, 'manager', 'intruder'),
    ]);
    return { cluster, rootCaPem: managerServer.rootCaPem, managerServer, manager, worker, foreign };
  })();
  return fixture;
}

function guard<T extends Json>(fn: (call: ServerUnaryCall<Json, Json>) => T | Promise<T>): handleUnaryCall<Json, Json> {
  return (call, cb: sendUnaryData<Json>) => {
    Promise.resolve()
      .then(() => fn(call))
      .then((v) => cb(null, v), (err: unknown) => cb(toServiceError(err)));
  };
}

async function startServer(creds: ServerCredentials, f: Fixture): Promise<{ addr: string; server: Server }> {
  const server = new Server();
  server.addService(definition, {
    whoami: guard((call) => ({ ...authorize(call, 'any') })),
    managerOnly: guard((call) => ({ ...authorize(call, 'manager') })),
    // The CA methods a node calls before it has a certificate.
    getRootCa: guard(() => ({ pem: f.rootCaPem })),
    join: guard(async (call) => {
      const req = call.request as { csr: string; token: string };
      const issued = await issueNodeCertificate(req.csr, req.token, f.cluster);
      return { ...issued, anonymousCaller: peerIdentity(call) === undefined };
    }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { addr: `127.0.0.1:${port}`, server };
}

async function call(addr: string, creds: ChannelCredentials, name: string, req: Json = {}): Promise<Json> {
  const client = new TestClient(addr, creds, clusterChannelOptions()) as Client & Record<string, unknown>;
  try {
    const fn = client[name] as (req: Json, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Json) => void) => void;
    return await new Promise<Json>((resolve, reject) =>
      fn.call(client, req, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res ?? {}))),
    );
  } finally {
    client.close();
  }
}

const idOf = (r: Json): PeerIdentity => ({ nodeId: r.nodeId as string, role: r.role as PeerIdentity['role'], clusterId: r.clusterId as string });

test('mutual TLS: managers and workers get in with the right identity; other CAs and no certificate do not', async (t) => {
  const f = await setup();
  const { addr, server } = await startServer(serverCredentials(f.managerServer), f);
  try {
    const asManager = clientCredentials(f.manager, 'MANAGER');
    t.deepEqual(idOf(await call(addr, asManager, 'whoami')), { nodeId: f.manager.id, role: 'MANAGER', clusterId: 'clusterA' });
    t.is((await call(addr, asManager, 'managerOnly')).nodeId, f.manager.id);

    const asWorker = clientCredentials(f.worker, 'MANAGER');
    t.deepEqual(idOf(await call(addr, asWorker, 'whoami')), { nodeId: f.worker.id, role: 'WORKER', clusterId: 'clusterA' });
    const denied = await t.throwsAsync(call(addr, asWorker, 'managerOnly'));
    t.is(errorCode(denied), 'PermissionDenied');
    t.is(denied?.message, 'this call needs a manager certificate; the caller presented a worker certificate.');

    // A certificate from another swarm's CA, even while trusting this swarm's root: refused in the handshake.
    const intruder = clientCredentials({ ...f.foreign, rootCaPem: f.rootCaPem });
    t.is(errorCode(await t.throwsAsync(call(addr, intruder, 'whoami'))), 'Unavailable');

    // No certificate at all: refused in the handshake.
    t.is(errorCode(await t.throwsAsync(call(addr, anonymousClientCredentials(f.rootCaPem), 'whoami'))), 'Unavailable');
  } finally {
    server.forceShutdown();
  }
});

test('clients refuse a server from another CA, and a worker posing as a manager', async (t) => {
  const f = await setup();
  const foreignServer = await startServer(serverCredentials(f.foreign), f);
  const workerServer = await startServer(serverCredentials(f.worker), f);
  try {
    t.is(errorCode(await t.throwsAsync(call(foreignServer.addr, clientCredentials(f.manager), 'whoami'))), 'Unavailable');
    const posing = await t.throwsAsync(call(workerServer.addr, clientCredentials(f.manager, 'MANAGER'), 'whoami'));
    t.is(errorCode(posing), 'Unavailable');
    t.regex(posing?.message ?? '', /presented a worker certificate; expected a manager/);
    // Without a role requirement the same worker server is acceptable (e.g. manager → agent calls, if any).
    t.is((await call(workerServer.addr, clientCredentials(f.manager), 'whoami')).role, 'MANAGER');
  } finally {
    foreignServer.server.forceShutdown();
    workerServer.server.forceShutdown();
  }
});

test('on the join port, anonymous callers reach only the CA methods; a foreign certificate counts as none', async (t) => {
  const f = await setup();
  const { addr, server } = await startServer(serverCredentials(f.managerServer, { allowAnonymous: true }), f);
  try {
    const none = await t.throwsAsync(call(addr, anonymousClientCredentials(f.rootCaPem), 'whoami'));
    t.is(errorCode(none), 'PermissionDenied');
    t.regex(none?.message ?? '', /needs a swarm node certificate; the caller presented none/);

    const foreign = await t.throwsAsync(call(addr, clientCredentials({ ...f.foreign, rootCaPem: f.rootCaPem }), 'whoami'));
    t.is(errorCode(foreign), 'PermissionDenied');

    t.is((await call(addr, clientCredentials(f.worker), 'whoami')).nodeId, f.worker.id);
    t.is(errorCode(await t.throwsAsync(call(addr, clientCredentials(f.worker), 'managerOnly'))), 'PermissionDenied');
  } finally {
    server.forceShutdown();
  }
});

test('a node joins: fetch the root CA, check it against the token, send the CSR, then use its certificate', async (t) => {
  const f = await setup();
  const { addr, server } = await startServer(serverCredentials(f.managerServer, { allowAnonymous: true }), f);
  try {
    const token = f.cluster.root_ca?.join_tokens?.worker ?? '';
    const { pem } = (await call(addr, bootstrapClientCredentials(), 'getRootCa')) as { pem: string };
    t.is(verifyRootCa(token, pem), f.cluster.root_ca?.ca_cert_hash ?? '');

    const { csrPem, keyPem } = await createNodeCsr();
    const issued = await call(addr, anonymousClientCredentials(pem), 'join', { csr: csrPem, token });
    t.is(issued.role, 'WORKER');
    t.true(issued.anonymousCaller);

    const mine: NodeCertificate = { certPem: issued.certPem as string, keyPem, rootCaPem: pem };
    t.deepEqual(idOf(await call(addr, clientCredentials(mine, 'MANAGER'), 'whoami')), {
      nodeId: issued.nodeId as string,
      role: 'WORKER',
      clusterId: 'clusterA',
    });

    // A token for another swarm fails the joining node's own check before it sends anything.
    const otherToken = (await makeCluster('clusterC')).root_ca?.join_tokens?.worker ?? '';
    t.is(errorCode(t.throws(() => verifyRootCa(otherToken, pem))), 'PermissionDenied');
    // A wrong token is refused by the CA with a clear error.
    const wrong = await t.throwsAsync(call(addr, anonymousClientCredentials(pem), 'join', { csr: csrPem, token: 'SWMTKN-1-x-y' }));
    t.is(errorCode(wrong), 'InvalidArgument');
    t.regex(wrong?.message ?? '', /^invalid join token/);
  } finally {
    server.forceShutdown();
  }
});

test('server credentials take a renewed certificate without a restart', async (t) => {
  const f = await setup();
  const creds = serverCredentials(f.worker);
  const { addr, server } = await startServer(creds, f);
  try {
    t.is(errorCode(await t.throwsAsync(call(addr, clientCredentials(f.manager, 'MANAGER'), 'whoami'))), 'Unavailable');
    creds.update(f.managerServer); // e.g. the node was promoted and renewed its certificate
    t.is((await call(addr, clientCredentials(f.manager, 'MANAGER'), 'whoami')).nodeId, f.manager.id);
  } finally {
    server.forceShutdown();
  }
});

function fakeCall(certPem?: string): CallWithAuthContext {
  const raw = certPem ? new X509Certificate(certPem).raw : undefined;
  return {
    getAuthContext: () => (raw ? { sslPeerCertificate: { raw, fingerprint256: '' } as unknown as PeerCertificate } : {}),
  };
}

test('authorize: the guard refuses no certificate, workers on manager methods, other cluster ids and expired certificates', async (t) => {
  const f = await setup();
  t.deepEqual(authorize(fakeCall(f.manager.certPem), 'manager', { clusterId: 'clusterA' }), {
    nodeId: f.manager.id,
    role: 'MANAGER',
    clusterId: 'clusterA',
  });
  t.is(authorize(fakeCall(f.worker.certPem), 'any').role, 'WORKER');
  const cases: Array<[() => unknown, RegExp]> = [
    [() => authorize(fakeCall(), 'any'), /presented none/],
    [() => authorize(fakeCall(f.worker.certPem), 'manager'), /needs a manager certificate; the caller presented a worker certificate/],
    [() => authorize(fakeCall(f.manager.certPem), 'any', { clusterId: 'clusterB' }), /belongs to swarm clusterA, not this swarm/],
    [() => authorize(fakeCall(f.rootCaPem), 'any'), /not a swarm node certificate/],
  ];
  for (const [fn, message] of cases) {
    const err = t.throws(fn);
    t.is(errorCode(err), 'PermissionDenied');
    t.regex(err?.message ?? '', message);
  }
  const later = new Date(Date.now() + 100 * 24 * 3600 * 1000);
  t.is(errorCode(t.throws(() => peerIdentity(fakeCall(f.worker.certPem), later))), 'PermissionDenied');
  t.is(peerIdentity(fakeCall()), undefined);
});
