// The one place that sets up @peculiar/x509: it resolves its dependency
// injection through tsyringe, which needs the reflect-metadata polyfill loaded
// before the library itself, and it signs through WebCrypto (node's).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { invalidArgument } from '@shoal/api';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export { x509 };

/** ECDSA P-256 with SHA-256: every key and signature in a Shoal cluster. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Curves whose keys the CA accepts in a CSR. */
export const ACCEPTED_CURVES: readonly string[] = ['P-256', 'P-384'];

export interface PemKeyPair {
  keyPem: string;
  keys: CryptoKeyPair;
}

/** A fresh ECDSA P-256 key pair, with the private key as PKCS#8 PEM. */
export async function generateKeyPair(): Promise<PemKeyPair> {
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, keyPem: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

/**
 * Imports an ECDSA P-256 private key from PKCS#8 PEM for signing.
 * Throws InvalidArgument when the text is not such a key.
 */
export async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  try {
    const der = x509.PemConverter.decodeFirst(keyPem);
    return await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
  } catch (err) {
    throw invalidArgument('cannot load the CA key: it is not a PKCS#8 PEM ECDSA P-256 private key.', { cause: err });
  }
}

/**
 * Parses one PEM certificate with node's X509Certificate (synchronous, used on
 * every TLS handshake and call). Throws InvalidArgument when it is not one.
 */
export function parseCertificate(pem: string | Buffer, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw invalidArgument(`cannot parse the ${what}: it is not a PEM or DER X.509 certificate.`, { cause: err });
  }
}

/**
 * The digest of a certificate, `sha256:<hex>` over its DER bytes, which is
 * what a join token carries. Throws InvalidArgument on a bad certificate.
 */
export function certificateDigest(pem: string | Buffer): string {
  const der = parseCertificate(pem).raw;
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** A random positive 128-bit serial number, as hex. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive and never a leading zero byte
  return bytes.toString('hex');
}

/** Every certificate starts this far in the past, to tolerate clock skew between nodes. */
export const CERT_BACKDATE_MS = 60 * 60 * 1000;
