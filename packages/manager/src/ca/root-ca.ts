// The cluster's root CA: an ECDSA P-256 key and a self-signed certificate,
// kept in the Cluster object's RootCa so every manager has it through Raft.
import { verify, webcrypto } from 'node:crypto';
import { ErrorCode, ShoalError, failedPrecondition, invalidArgument } from '@shoal/api';
import type { Cluster__Output, RootCa, RootCa__Output } from '@shoal/api';
import {
  CERT_BACKDATE_MS,
  EC_P256,
  certificateDigest,
  generateKeyPair,
  importSigningKey,
  parseCertificate,
  randomSerial,
  x509,
} from './crypto.js';
import type { CryptoKey } from './crypto.js';
import { generateJoinTokens, parseJoinToken } from './join-token.js';
import { CA_ROLE_NAME } from './roles.js';

/** Swarm's default root CA lifetime: 20 years. */
export const DEFAULT_ROOT_CA_EXPIRY_MS = 20 * 365 * 24 * 60 * 60 * 1000;

/** The root CA as PEM text: the key only where it can sign (managers). */
export interface RootCaMaterial {
  certPem: string;
  /** Empty when this copy cannot sign. */
  keyPem: string;
  /** `sha256:<hex>` of the DER certificate. */
  digest: string;
}

export interface CreateRootCaOptions {
  /** Validity from now; default 20 years. */
  expiryMs?: number;
  /** The clock, for tests. */
  now?: Date;
  /** The certificate's common name; default `swarm-ca`. */
  commonName?: string;
}

/**
 * Creates a new root CA: an ECDSA P-256 key and a self-signed CA certificate.
 * Throws InvalidArgument when the expiry is not positive.
 */
export async function createRootCa(options: CreateRootCaOptions = {}): Promise<RootCaMaterial> {
  const expiryMs = options.expiryMs ?? DEFAULT_ROOT_CA_EXPIRY_MS;
  if (!(expiryMs > 0)) throw invalidArgument(`invalid root CA expiry ${expiryMs} ms: it must be positive.`);
  const now = options.now?.getTime() ?? Date.now();
  const { keys, keyPem } = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${options.commonName ?? CA_ROLE_NAME}`,
    notBefore: new Date(now - CERT_BACKDATE_MS),
    notAfter: new Date(now + expiryMs),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, keyPem, digest: certificateDigest(certPem) };
}

/** The RootCa message for the Cluster object, with fresh join tokens unless given. */
export function rootCaToProto(material: RootCaMaterial, joinTokens = generateJoinTokens(material.digest)): RootCa {
  return {
    ca_cert: Buffer.from(material.certPem),
    ca_key: Buffer.from(material.keyPem),
    ca_cert_hash: material.digest,
    join_tokens: joinTokens,
  };
}

/**
 * Reads the root CA out of a Cluster object. Throws FailedPrecondition when
 * the cluster has none (the swarm was not initialised).
 */
export function rootCaFromCluster(cluster: Pick<Cluster__Output, 'root_ca'> | null | undefined): RootCaMaterial {
  const ca: RootCa__Output | null | undefined = cluster?.root_ca;
  if (!ca || ca.ca_cert.length === 0) {
    throw failedPrecondition('the cluster has no root CA; initialise the swarm with `shoal swarm init` first.');
  }
  const certPem = ca.ca_cert.toString('utf8');
  return { certPem, keyPem: ca.ca_key.toString('utf8'), digest: ca.ca_cert_hash || certificateDigest(certPem) };
}

/** A root CA that can sign: its certificate and imported key. */
export interface RootCaSigner {
  material: RootCaMaterial;
  cert: x509.X509Certificate;
  key: CryptoKey;
}

/**
 * Prepares a root CA to sign. Throws FailedPrecondition when it has no key,
 * InvalidArgument when the key or certificate cannot be loaded or do not match.
 */
export async function loadRootCaSigner(material: RootCaMaterial): Promise<RootCaSigner> {
  if (material.keyPem === '') {
    throw failedPrecondition('this root CA has no private key, so it cannot sign certificates.');
  }
  const cert = new x509.X509Certificate(material.certPem);
  const key = await importSigningKey(material.keyPem);
  // A key that does not belong to the certificate would issue certificates nobody can verify.
  const probe = Buffer.from('shoal root CA key check');
  const sig = Buffer.from(await webcrypto.subtle.sign(EC_P256, key, probe));
  const pub = parseCertificate(material.certPem, 'root CA certificate').publicKey;
  if (!verify('sha256', probe, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)) {
    throw invalidArgument('the root CA key does not match the root CA certificate.');
  }
  return { material, cert, key };
}

/**
 * The check a joining node makes before trusting a manager: the root CA
 * certificate the manager presented must have the digest the token pins, and
 * must be a currently valid CA certificate. Returns the verified digest.
 * Throws InvalidArgument for a malformed token or certificate, PermissionDenied
 * when the digests differ.
 */
export function verifyRootCa(token: string, caPem: string | Buffer, now: Date = new Date()): string {
  const { caDigest } = parseJoinToken(token);
  const cert = parseCertificate(caPem, 'root CA certificate the manager presented');
  const digest = certificateDigest(cert.raw);
  if (digest !== caDigest) {
    throw new ShoalError(
      ErrorCode.PermissionDenied,
      `invalid join token: the manager's root CA (${digest}) is not the one the token names (${caDigest}); ` +
        'the token belongs to another swarm, or this is not the manager you meant to join.',
    );
  }
  if (!cert.ca) throw invalidArgument('the certificate the manager presented as its root CA is not a CA certificate.');
  const t = now.getTime();
  if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) {
    throw failedPrecondition(`the swarm's root CA certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo}); check this host's clock.`);
  }
  return digest;
}
