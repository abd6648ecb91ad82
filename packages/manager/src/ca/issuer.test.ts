import test from 'ava';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { errorCode } from '@shoal/api';
import type { Cluster__Output } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { x509 } from './crypto.js';
import { generateJoinToken, rotateJoinToken } from './join-token.js';
import {
  DEFAULT_NODE_CERT_EXPIRY_MS,
  MIN_NODE_CERT_EXPIRY_MS,
  issueNodeCertificate,
  nodeCertExpiryMs,
  renewNodeCertificate,
  validateNodeCertExpiry,
} from './issuer.js';
import { createNodeCsr, parseNodeCertificate, verifyNodeCertificate } from './node-cert.js';
import { createRootCa, rootCaToProto } from './root-ca.js';
import type { RootCaMaterial } from './root-ca.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

async function cluster(
  ca?: RootCaMaterial,
  certExpirySeconds?: number,
  id = 'clusterid1',
): Promise<Cluster__Output> {
  const root = ca ?? (await createRootCa());
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.clusters.create({
      id,
      spec: {
        annotations: { name: 'default' },
        ...(certExpirySeconds === undefined ? {} : { ca_config: { node_cert_expiry: { seconds: certExpirySeconds } } }),
      },
      root_ca: rootCaToProto(root),
    });
  });
  const c = store.view((tx) => tx.clusters.get(id));
  if (!c) throw new Error('no cluster');
  return c;
}

function tokens(c: Cluster__Output): { worker: string; manager: string } {
  return { worker: c.root_ca?.join_tokens?.worker ?? '', manager: c.root_ca?.join_tokens?.manager ?? '' };
}

test('a worker token gets a worker certificate: CN node id, OU swarm-worker, O cluster id', async (t) => {
  const c = await cluster();
  const { csrPem, keyPem } = await createNodeCsr();
  const issued = await issueNodeCertificate(csrPem, tokens(c).worker, c, { nodeId: 'node1' });
  t.is(issued.role, 'WORKER');
  t.is(issued.nodeId, 'node1');
  t.is(issued.clusterId, 'clusterid1');
  const cert = new X509Certificate(issued.certPem);
  t.is(cert.subject, 'O=clusterid1\nOU=swarm-worker\nCN=node1');
  t.is(cert.subjectAltName, 'DNS:swarm-worker, DNS:node1');
  t.false(cert.ca);
  t.true(cert.checkPrivateKey(createPrivateKey(keyPem)), 'certifies the CSR key');
  const id = verifyNodeCertificate(issued.certPem, issued.rootCaPem);
  t.like(id, { nodeId: 'node1', role: 'WORKER', clusterId: 'clusterid1' });
  t.is(issued.rootCaPem, c.root_ca?.ca_cert.toString() ?? '');
});

test('a manager token gets a manager certificate that also names swarm-ca', async (t) => {
  const c = await cluster();
  const { csrPem } = await createNodeCsr();
  const issued = await issueNodeCertificate(csrPem, tokens(c).manager, c);
  t.is(issued.role, 'MANAGER');
  t.regex(issued.nodeId, /^[0-9a-z]{25}$/, 'a fresh object id');
  const cert = new X509Certificate(issued.certPem);
  t.is(cert.subjectAltName, `DNS:swarm-manager, DNS:${issued.nodeId}, DNS:swarm-ca`);
  t.is(parseNodeCertificate(issued.certPem).role, 'MANAGER');
  const ext = new x509.X509Certificate(issued.certPem).getExtension(x509.ExtendedKeyUsageExtension);
  t.deepEqual([...(ext?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
});

test('the role comes from the token, never from the CSR', async (t) => {
  const c = await cluster();
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=clusterid1, OU=swarm-manager, CN=evil',
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'swarm-manager' }])],
  });
  const issued = await issueNodeCertificate(csr.toString('pem'), tokens(c).worker, c, { nodeId: 'n2' });
  const cert = new X509Certificate(issued.certPem);
  t.is(cert.subject, 'O=clusterid1\nOU=swarm-worker\nCN=n2');
  t.is(cert.subjectAltName, 'DNS:swarm-worker, DNS:n2');
});

test('a rotated-out token is refused with PermissionDenied and a hint', async (t) => {
  const c = await cluster();
  const old = tokens(c).worker;
  const root = c.root_ca;
  if (!root) throw new Error('no root');
  const rotated: Cluster__Output = {
    ...c,
    root_ca: { ...root, join_tokens: rotateJoinToken(root.join_tokens, 'WORKER', root.ca_cert_hash) },
  };
  const { csrPem } = await createNodeCsr();
  const err = await t.throwsAsync(issueNodeCertificate(csrPem, old, rotated));
  t.is(errorCode(err), 'PermissionDenied');
  t.regex(err?.message ?? '', /^invalid join token: .*rotated.*swarm join-token/);
  // The new one works and the untouched manager token still works.
  t.is((await issueNodeCertificate(csrPem, rotated.root_ca?.join_tokens?.worker ?? '', rotated)).role, 'WORKER');
  t.is((await issueNodeCertificate(csrPem, tokens(c).manager, rotated)).role, 'MANAGER');
});

test('a token made for another swarm is refused; a malformed one is InvalidArgument', async (t) => {
  const c = await cluster();
  const other = await createRootCa();
  const { csrPem } = await createNodeCsr();
  const err = await t.throwsAsync(issueNodeCertificate(csrPem, generateJoinToken(other.digest), c));
  t.is(errorCode(err), 'PermissionDenied');
  t.regex(err?.message ?? '', /another swarm/);
  // Right digest, guessed secret.
  const guessed = await t.throwsAsync(issueNodeCertificate(csrPem, generateJoinToken(c.root_ca?.ca_cert_hash ?? ''), c));
  t.is(errorCode(guessed), 'PermissionDenied');
  const bad = await t.throwsAsync(issueNodeCertificate(csrPem, 'SWMTKN-1-nope', c));
  t.is(errorCode(bad), 'InvalidArgument');
});

test('bad CSRs are refused: not a CSR, a forged signature, a non-ECDSA key', async (t) => {
  const c = await cluster();
  const token = tokens(c).worker;
  const huge = await t.throwsAsync(issueNodeCertificate('x'.repeat(20_000), token, c));
  t.regex(huge?.message ?? '', /at most 16384/);
  const e1 = await t.throwsAsync(issueNodeCertificate('hello', token, c));
  t.is(errorCode(e1), 'InvalidArgument');
  t.regex(e1?.message ?? '', /not a PEM PKCS#10 CSR/);

  // A CSR whose signature does not match its content: the last byte of the
  // DER is inside the signature's s integer, so flipping it keeps the structure.
  const a = await createNodeCsr();
  const der = Buffer.from(new x509.Pkcs10CertificateRequest(a.csrPem).rawData);
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  const forged = new x509.Pkcs10CertificateRequest(der);
  const e2 = await t.throwsAsync(issueNodeCertificate(forged.toString('pem'), token, c));
  t.is(errorCode(e2), 'InvalidArgument');
  t.regex(e2?.message ?? '', /signature does not verify/);

  const rsaAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const rsa = await crypto.subtle.generateKey(rsaAlg, true, ['sign', 'verify']);
  const rsaCsr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: rsa, signingAlgorithm: rsaAlg });
  const e3 = await t.throwsAsync(issueNodeCertificate(rsaCsr.toString('pem'), token, c));
  t.is(errorCode(e3), 'InvalidArgument');
  t.regex(e3?.message ?? '', /ECDSA/);
});

test('certificates last as CaConfig says: 90 days by default, at least an hour', async (t) => {
  const now = new Date('2031-05-05T00:00:00Z');
  const { csrPem } = await createNodeCsr();
  const ca = await createRootCa();

  const byDefault = await cluster(ca);
  const d = parseNodeCertificate((await issueNodeCertificate(csrPem, tokens(byDefault).worker, byDefault, { now })).certPem);
  t.is(d.notAfter.getTime(), now.getTime() + DEFAULT_NODE_CERT_EXPIRY_MS);
  t.is(DEFAULT_NODE_CERT_EXPIRY_MS, 90 * DAY);
  t.is(d.notBefore.getTime(), now.getTime() - HOUR, 'backdated an hour for clock skew');

  const short = await cluster(ca, 2 * 3600);
  const s = parseNodeCertificate((await issueNodeCertificate(csrPem, tokens(short).worker, short, { now })).certPem);
  t.is(s.notAfter.getTime(), now.getTime() + 2 * HOUR);

  const tooShort = await cluster(ca, 60);
  t.is(nodeCertExpiryMs(tooShort.spec?.ca_config), DEFAULT_NODE_CERT_EXPIRY_MS, 'below the minimum falls back to the default');
  t.is(nodeCertExpiryMs(null), DEFAULT_NODE_CERT_EXPIRY_MS);
  t.is(MIN_NODE_CERT_EXPIRY_MS, HOUR);
  t.throws(() => validateNodeCertExpiry(59 * 60 * 1000), { message: /at least 1 hour/ });
  t.notThrows(() => validateNodeCertExpiry(HOUR));
});

test('a node certificate never outlives the root CA', async (t) => {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000); // X.509 times have whole seconds
  const ca = await createRootCa({ now, expiryMs: 10 * DAY });
  const c = await cluster(ca);
  const { csrPem } = await createNodeCsr();
  const id = parseNodeCertificate((await issueNodeCertificate(csrPem, tokens(c).worker, c, { now })).certPem);
  t.is(id.notAfter.getTime(), now.getTime() + 10 * DAY);
});

test('renewal keeps the node id and takes the role the managers recorded', async (t) => {
  const c = await cluster();
  const first = await issueNodeCertificate((await createNodeCsr()).csrPem, tokens(c).worker, c, { nodeId: 'n7' });
  t.is(first.role, 'WORKER');
  // The node was promoted: its Node object now says MANAGER.
  const renewed = await renewNodeCertificate((await createNodeCsr()).csrPem, first.nodeId, 'MANAGER', c);
  t.like(renewed, { nodeId: 'n7', role: 'MANAGER', clusterId: 'clusterid1' });
  t.is(verifyNodeCertificate(renewed.certPem, renewed.rootCaPem).role, 'MANAGER');
  const demoted = await renewNodeCertificate((await createNodeCsr()).csrPem, 'n7', 'WORKER', c);
  t.is(parseNodeCertificate(demoted.certPem).role, 'WORKER');
});

test('verifyNodeCertificate refuses another CA\'s certificates and expired ones', async (t) => {
  const c1 = await cluster();
  const c2 = await cluster(undefined, undefined, 'clusterid2');
  const { csrPem } = await createNodeCsr();
  const from2 = await issueNodeCertificate(csrPem, tokens(c2).manager, c2);
  const err = t.throws(() => verifyNodeCertificate(from2.certPem, c1.root_ca?.ca_cert ?? ''));
  t.is(errorCode(err), 'PermissionDenied');
  const later = new Date(Date.now() + 91 * DAY);
  const expired = t.throws(() => verifyNodeCertificate(from2.certPem, from2.rootCaPem, later));
  t.is(errorCode(expired), 'PermissionDenied');
  t.regex(expired?.message ?? '', /not valid now/);
  const notNode = t.throws(() => parseNodeCertificate(from2.rootCaPem));
  t.is(errorCode(notNode), 'InvalidArgument');
});

test('a cluster whose root CA has no key cannot issue', async (t) => {
  const c = await cluster();
  const root = c.root_ca;
  if (!root) throw new Error('no root');
  const noKey: Cluster__Output = { ...c, root_ca: { ...root, ca_key: Buffer.alloc(0) } };
  const err = await t.throwsAsync(issueNodeCertificate((await createNodeCsr()).csrPem, tokens(c).worker, noKey));
  t.is(errorCode(err), 'FailedPrecondition');
});
