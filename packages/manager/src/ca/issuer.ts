// The CA server's decisions: which role a joining node gets (from its token,
// never from what it asks for), and the certificate the root signs for it.
import { ErrorCode, ShoalError, failedPrecondition, invalidArgument } from '@shoal/api';
import type { CaConfig__Output, Cluster__Output } from '@shoal/api';
import { newObjectId } from '../store/ids.js';
import { ACCEPTED_CURVES, CERT_BACKDATE_MS, EC_P256, randomSerial, x509 } from './crypto.js';
import { parseJoinToken, roleForToken } from './join-token.js';
import { loadRootCaSigner, rootCaFromCluster } from './root-ca.js';
import type { RootCaMaterial, RootCaSigner } from './root-ca.js';
import { CA_ROLE_NAME, roleName } from './roles.js';
import type { CertRole } from './roles.js';

/** Swarm's default node certificate lifetime: 90 days. */
export const DEFAULT_NODE_CERT_EXPIRY_MS = 90 * 24 * 60 * 60 * 1000;
/** The shortest node certificate lifetime a cluster may ask for. */
export const MIN_NODE_CERT_EXPIRY_MS = 60 * 60 * 1000;

const MAX_CSR_CHARS = 16 * 1024;
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function durationMs(d: CaConfig__Output['node_cert_expiry'] | undefined): number {
  if (!d) return 0;
  return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6);
}

/**
 * The node certificate lifetime a cluster's CaConfig asks for: the default
 * when unset, and (like swarmkit) the default again when the value is below
 * the minimum, so a bad value that slipped into the store cannot break joins.
 */
export function nodeCertExpiryMs(caConfig: Pick<CaConfig__Output, 'node_cert_expiry'> | null | undefined): number {
  const ms = durationMs(caConfig?.node_cert_expiry);
  return ms >= MIN_NODE_CERT_EXPIRY_MS ? ms : DEFAULT_NODE_CERT_EXPIRY_MS;
}

/**
 * For `swarm init/update --cert-expiry`: throws InvalidArgument when the
 * lifetime is below one hour.
 */
export function validateNodeCertExpiry(ms: number): void {
  if (!Number.isFinite(ms) || ms < MIN_NODE_CERT_EXPIRY_MS) {
    throw invalidArgument(`invalid --cert-expiry: node certificates must be valid for at least 1 hour (got ${ms / 1000} s).`);
  }
}

export interface NodeSubject {
  nodeId: string;
  role: CertRole;
  clusterId: string;
}

export interface SignOptions {
  /** Validity; default DEFAULT_NODE_CERT_EXPIRY_MS. */
  expiryMs?: number;
  /** The clock, for tests. */
  now?: Date;
}

let lastSigner: { key: string; signer: Promise<RootCaSigner> } | undefined;

/** The signer for a root CA, reused while the CA does not change. */
function signerFor(ca: RootCaMaterial): Promise<RootCaSigner> {
  const key = ca.certPem + ca.keyPem;
  if (lastSigner?.key !== key) {
    const signer = loadRootCaSigner(ca);
    signer.catch(() => {
      if (lastSigner?.signer === signer) lastSigner = undefined;
    });
    lastSigner = { key, signer };
  }
  return lastSigner.signer;
}

/**
 * Parses a CSR and checks that its holder has the private key (its signature)
 * and that the key is ECDSA on an accepted curve. Returns the public key.
 * Throws InvalidArgument otherwise.
 */
async function csrPublicKey(csrPem: string): Promise<x509.PublicKey> {
  // An EC CSR is a few hundred bytes; refuse anything that could be a parsing attack.
  if (csrPem.length > MAX_CSR_CHARS) {
    throw invalidArgument(`invalid certificate signing request: it is ${csrPem.length} characters; at most ${MAX_CSR_CHARS} are accepted.`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw invalidArgument('invalid certificate signing request: it is not a PEM PKCS#10 CSR.', { cause: err });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || !ACCEPTED_CURVES.includes(alg.namedCurve ?? '')) {
    throw invalidArgument(
      `invalid certificate signing request: its key is ${alg.name ?? 'unknown'} ${alg.namedCurve ?? ''}`.trimEnd() +
        `; nodes must use ECDSA keys on ${ACCEPTED_CURVES.join(' or ')}.`,
    );
  }
  let ok: boolean;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw invalidArgument('invalid certificate signing request: its signature does not verify.');
  return csr.publicKey;
}

/**
 * Signs a node certificate for the CSR's public key with the identity given
 * (never the CSR's subject): CN node id, OU role, O cluster id, DNS names for
 * the role and node id (managers also `swarm-ca`), server and client auth.
 * Backdated one hour for clock skew, and never outliving the root.
 * Throws InvalidArgument for a bad CSR or identity, FailedPrecondition when
 * the root CA cannot sign.
 */
export async function signNodeCertificate(
  csrPem: string,
  subject: NodeSubject,
  ca: RootCaMaterial,
  options: SignOptions = {},
): Promise<string> {
  for (const [what, v] of [['node id', subject.nodeId], ['cluster id', subject.clusterId]] as const) {
    if (!ID.test(v)) throw invalidArgument(`cannot issue a certificate: invalid ${what} '${v}'.`);
  }
  const publicKey = await csrPublicKey(csrPem);
  const signer = await signerFor(ca);
  const now = options.now?.getTime() ?? Date.now();
  const caNotAfter = signer.cert.notAfter.getTime();
  if (now >= caNotAfter) {
    throw failedPrecondition('the swarm root CA certificate has expired, so it cannot issue node certificates.');
  }
  const notAfter = Math.min(now + (options.expiryMs ?? DEFAULT_NODE_CERT_EXPIRY_MS), caNotAfter);
  const dnsNames = [roleName(subject.role), subject.nodeId];
  if (subject.role === 'MANAGER') dnsNames.push(CA_ROLE_NAME);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `O=${subject.clusterId}, OU=${roleName(subject.role)}, CN=${subject.nodeId}`,
    issuer: signer.cert.subject,
    notBefore: new Date(now - CERT_BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey,
    signingKey: signer.key,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value }))),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert),
    ],
  });
  return cert.toString('pem');
}

/** What the CA hands a node: its identity, its certificate and the root to trust. */
export interface IssuedCertificate extends NodeSubject {
  certPem: string;
  rootCaPem: string;
}

export interface IssueOptions {
  /** The new node's id; default a fresh object id. */
  nodeId?: string;
  now?: Date;
}

function rotatedOut(): ShoalError {
  return new ShoalError(
    ErrorCode.PermissionDenied,
    "invalid join token: it is not this swarm's current worker or manager token (it may have been rotated); " +
      'get the current one with `shoal swarm join-token worker` (or `manager`) on a manager.',
  );
}

/**
 * The CA server's answer to a joining node: checks the token against the
 * cluster's current tokens, takes the role FROM THE TOKEN, and signs the CSR.
 * Throws InvalidArgument for a malformed token or CSR, PermissionDenied for a
 * token of another swarm or one that was rotated out, FailedPrecondition when
 * the cluster has no root CA key.
 */
export async function issueNodeCertificate(
  csrPem: string,
  token: string,
  cluster: Cluster__Output,
  options: IssueOptions = {},
): Promise<IssuedCertificate> {
  const parsed = parseJoinToken(token);
  const ca = rootCaFromCluster(cluster);
  if (parsed.caDigest !== ca.digest) {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      "invalid join token: it was made for another swarm (its CA digest does not match this swarm's root CA).",
    );
  }
  const role = roleForToken(token, cluster.root_ca?.join_tokens);
  if (!role) throw rotatedOut();
  const subject: NodeSubject = { nodeId: options.nodeId ?? newObjectId(), role, clusterId: cluster.id };
  const certPem = await signNodeCertificate(csrPem, subject, ca, {
    expiryMs: nodeCertExpiryMs(cluster.spec?.ca_config),
    ...(options.now ? { now: options.now } : {}),
  });
  return { ...subject, certPem, rootCaPem: ca.certPem };
}

/**
 * Renewal for a node that already holds a certificate (authenticated by it):
 * the node keeps its id, and gets the role the managers recorded for it (its
 * Node object's role, which promote/demote change), not the role it asks for.
 * Throws like signNodeCertificate.
 */
export async function renewNodeCertificate(
  csrPem: string,
  nodeId: string,
  recordedRole: CertRole,
  cluster: Cluster__Output,
  options: { now?: Date } = {},
): Promise<IssuedCertificate> {
  const ca = rootCaFromCluster(cluster);
  const subject: NodeSubject = { nodeId, role: recordedRole, clusterId: cluster.id };
  const certPem = await signNodeCertificate(csrPem, subject, ca, {
    expiryMs: nodeCertExpiryMs(cluster.spec?.ca_config),
    ...(options.now ? { now: options.now } : {}),
  });
  return { ...subject, certPem, rootCaPem: ca.certPem };
}
