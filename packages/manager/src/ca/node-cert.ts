// A node's certificate: its identity (CN = node id, OU = role, O = cluster id)
// and the key pair + CSR a node makes before asking the CA for one.
import { X509Certificate } from 'node:crypto';
import { ErrorCode, ShoalError, invalidArgument } from '@shoal/api';
import { EC_P256, generateKeyPair, parseCertificate, x509 } from './crypto.js';
import { roleFromName } from './roles.js';
import type { CertRole } from './roles.js';

/** A node's TLS material, all PEM: what the mutual-TLS credentials are built from. */
export interface NodeCertificate {
  certPem: string;
  keyPem: string;
  rootCaPem: string;
}

/** Who a node certificate says its holder is. */
export interface NodeIdentity {
  nodeId: string;
  role: CertRole;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
}

export interface NodeCsr {
  csrPem: string;
  keyPem: string;
}

/**
 * A new ECDSA P-256 key and a CSR for it. The CA trusts only the CSR's public
 * key: the identity it signs comes from the token and the cluster, never from
 * the CSR's subject.
 */
export async function createNodeCsr(): Promise<NodeCsr> {
  const { keys, keyPem } = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=swarm-node',
    keys,
    signingAlgorithm: EC_P256,
  });
  return { csrPem: csr.toString('pem'), keyPem };
}

/** The value of the first `key=value` line of a node X509Certificate subject. */
function subjectField(subject: string, key: string): string | undefined {
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq) === key) return line.slice(eq + 1);
  }
  return undefined;
}

/**
 * Reads the identity a node certificate carries, without checking who signed
 * it (see verifyNodeCertificate). Throws InvalidArgument when it is not a
 * Shoal node certificate.
 */
export function parseNodeCertificate(cert: string | Buffer | X509Certificate): NodeIdentity {
  const c = cert instanceof X509Certificate ? cert : parseCertificate(cert, 'node certificate');
  const nodeId = subjectField(c.subject, 'CN');
  const role = roleFromName(subjectField(c.subject, 'OU'));
  const clusterId = subjectField(c.subject, 'O');
  if (!nodeId || !role || !clusterId) {
    throw invalidArgument(
      `not a swarm node certificate (subject ${JSON.stringify(c.subject.replaceAll('\n', ', '))}); ` +
        'a node certificate names the node id (CN), its role swarm-manager or swarm-worker (OU) and the cluster id (O).',
    );
  }
  return { nodeId, role, clusterId, notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}

const trustCache = new Map<string, X509Certificate>();

/** The root CA certificate parsed once per PEM (the TLS paths check it on every call). */
export function rootCertificate(rootCaPem: string | Buffer): X509Certificate {
  const key = typeof rootCaPem === 'string' ? rootCaPem : rootCaPem.toString('utf8');
  let c = trustCache.get(key);
  if (!c) {
    c = parseCertificate(key, 'root CA certificate');
    if (trustCache.size > 16) trustCache.clear();
    trustCache.set(key, c);
  }
  return c;
}

/**
 * Checks that `cert` was issued by the root CA and is valid at `now`, and
 * returns its identity. Throws PermissionDenied when it was not issued by
 * this root or is outside its validity, InvalidArgument when it is not a
 * node certificate at all.
 */
export function verifyNodeCertificate(
  cert: string | Buffer | X509Certificate,
  rootCaPem: string | Buffer,
  now: Date = new Date(),
): NodeIdentity {
  const c = cert instanceof X509Certificate ? cert : parseCertificate(cert, 'node certificate');
  const root = rootCertificate(rootCaPem);
  if (!c.checkIssued(root) || !c.verify(root.publicKey)) {
    throw new ShoalError(ErrorCode.PermissionDenied, 'the certificate was not issued by this swarm\'s root CA.');
  }
  const id = parseNodeCertificate(c);
  const t = now.getTime();
  if (t < id.notBefore.getTime() || t > id.notAfter.getTime()) {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      `the certificate of node ${id.nodeId} is not valid now (valid ${c.validFrom} to ${c.validTo}); ` +
        'it expired or the clocks disagree.',
    );
  }
  return id;
}
