import test from 'ava';
import { createHash, X509Certificate } from 'node:crypto';
import { errorCode } from '@shoal/api';
import { MemoryStore } from '../store/index.js';
import { generateJoinToken, parseJoinToken } from './join-token.js';
import {
  DEFAULT_ROOT_CA_EXPIRY_MS,
  createRootCa,
  loadRootCaSigner,
  rootCaFromCluster,
  rootCaToProto,
  verifyRootCa,
} from './root-ca.js';

const YEAR = 365 * 24 * 3600 * 1000;

test('the root CA is a self-signed ECDSA P-256 CA certificate valid for 20 years by default', async (t) => {
  const now = new Date('2030-01-01T00:00:00Z');
  const ca = await createRootCa({ now });
  const cert = new X509Certificate(ca.certPem);
  t.true(cert.ca);
  t.is(cert.subject, 'CN=swarm-ca');
  t.is(cert.issuer, cert.subject);
  t.true(cert.verify(cert.publicKey), 'self-signed');
  t.is(cert.publicKey.asymmetricKeyType, 'ec');
  t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.is(Date.parse(cert.validTo), now.getTime() + DEFAULT_ROOT_CA_EXPIRY_MS);
  t.true(DEFAULT_ROOT_CA_EXPIRY_MS >= 20 * YEAR);
  t.true(Date.parse(cert.validFrom) < now.getTime(), 'backdated for clock skew');
  t.regex(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('the expiry is configurable and must be positive', async (t) => {
  const now = new Date('2030-01-01T00:00:00Z');
  const ca = await createRootCa({ now, expiryMs: 2 * YEAR });
  t.is(Date.parse(new X509Certificate(ca.certPem).validTo), now.getTime() + 2 * YEAR);
  await t.throwsAsync(createRootCa({ expiryMs: 0 }), { message: /must be positive/ });
});

test('the CA digest is sha256 of the DER certificate', async (t) => {
  const ca = await createRootCa();
  const der = new X509Certificate(ca.certPem).raw;
  t.is(ca.digest, `sha256:${createHash('sha256').update(der).digest('hex')}`);
});

test('the root CA and its tokens survive the Cluster object in the replicated store', async (t) => {
  const ca = await createRootCa();
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.clusters.create({ id: 'c1', spec: { annotations: { name: 'default' } }, root_ca: rootCaToProto(ca) });
  });
  const cluster = store.view((tx) => tx.clusters.get('c1'));
  const back = rootCaFromCluster(cluster);
  t.deepEqual(back, ca);
  const tokens = cluster?.root_ca?.join_tokens;
  t.truthy(tokens);
  t.is(parseJoinToken(tokens?.worker ?? '').caDigest, ca.digest);
  t.is(parseJoinToken(tokens?.manager ?? '').caDigest, ca.digest);
  await t.notThrowsAsync(loadRootCaSigner(back));
});

test('a cluster without a root CA is a clear FailedPrecondition', (t) => {
  const err = t.throws(() => rootCaFromCluster({ root_ca: null }));
  t.is(errorCode(err), 'FailedPrecondition');
  t.regex(err?.message ?? '', /swarm init/);
});

test('a signer needs the key that belongs to the certificate', async (t) => {
  const a = await createRootCa();
  const b = await createRootCa();
  await t.throwsAsync(loadRootCaSigner({ ...a, keyPem: b.keyPem }), { message: /does not match/ });
  const noKey = await t.throwsAsync(loadRootCaSigner({ ...a, keyPem: '' }));
  t.is(errorCode(noKey), 'FailedPrecondition');
  const bad = await t.throwsAsync(loadRootCaSigner({ ...a, keyPem: 'junk' }));
  t.is(errorCode(bad), 'InvalidArgument');
});

test('a joining node trusts the manager\'s root CA only when the token pins its digest', async (t) => {
  const ca = await createRootCa();
  const other = await createRootCa();
  const token = generateJoinToken(ca.digest);
  t.is(verifyRootCa(token, ca.certPem), ca.digest);
  const err = t.throws(() => verifyRootCa(token, other.certPem));
  t.is(errorCode(err), 'PermissionDenied');
  t.regex(err?.message ?? '', /^invalid join token: the manager's root CA/);
  t.is(errorCode(t.throws(() => verifyRootCa('SWMTKN-1-bad', ca.certPem))), 'InvalidArgument');
  t.is(errorCode(t.throws(() => verifyRootCa(token, 'not a certificate'))), 'InvalidArgument');
});

test('a pinned root CA that is not valid now is refused', async (t) => {
  const ca = await createRootCa({ now: new Date('2000-01-01T00:00:00Z'), expiryMs: YEAR });
  const err = t.throws(() => verifyRootCa(generateJoinToken(ca.digest), ca.certPem));
  t.is(errorCode(err), 'FailedPrecondition');
  t.regex(err?.message ?? '', /clock/);
});
