// Join tokens in swarmkit's shape: SWMTKN-1-<CA digest>-<secret>. The digest
// part lets a joining node check the manager it reaches before trusting it;
// the secret part decides the role the managers grant.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidArgument } from '@shoal/api';
import type { JoinTokens, JoinTokens__Output } from '@shoal/api';
import type { CertRole } from './roles.js';

const PREFIX = 'SWMTKN';
const VERSION = '1';
/** sha256 written in base 36 needs at most 50 characters (ceil(256 / log2 36)). */
export const DIGEST_CHARS = 50;
/** 128 random bits in base 36 need at most 25 characters. */
export const SECRET_CHARS = 25;
const SECRET_BYTES = 16;
const BASE36 = /^[0-9a-z]+$/;
const HEX64 = /^[0-9a-f]{64}$/;

export interface ParsedJoinToken {
  /** The root CA digest the token pins, `sha256:<hex>`. */
  caDigest: string;
  /** The secret part, 25 base-36 characters. */
  secret: string;
}

function toBase36(bytes: Buffer, width: number): string {
  const n = BigInt(`0x${bytes.toString('hex') || '0'}`);
  return n.toString(36).padStart(width, '0');
}

function fromBase36(text: string): bigint {
  let n = 0n;
  for (const ch of text) n = n * 36n + BigInt(parseInt(ch, 36));
  return n;
}

function hexOfDigest(caDigest: string): string {
  const hex = caDigest.startsWith('sha256:') ? caDigest.slice('sha256:'.length) : '';
  if (!HEX64.test(hex)) throw invalidArgument(`invalid CA digest '${caDigest}': expected sha256:<64 hex digits>.`);
  return hex;
}

/**
 * A new join token pinning the CA digest (`sha256:<hex>`) with a fresh random
 * secret. Throws InvalidArgument when the digest is malformed.
 */
export function generateJoinToken(caDigest: string): string {
  const digest = toBase36(Buffer.from(hexOfDigest(caDigest), 'hex'), DIGEST_CHARS);
  const secret = toBase36(randomBytes(SECRET_BYTES), SECRET_CHARS);
  return `${PREFIX}-${VERSION}-${digest}-${secret}`;
}

/** A worker and a manager token for the CA, with independent secrets. */
export function generateJoinTokens(caDigest: string): JoinTokens__Output {
  return { worker: generateJoinToken(caDigest), manager: generateJoinToken(caDigest) };
}

/**
 * The tokens after `swarm join-token --rotate <role>`: that role's token gets a
 * new secret, so the old one stops working; the other is kept.
 */
export function rotateJoinToken(tokens: JoinTokens | null | undefined, role: CertRole, caDigest: string): JoinTokens__Output {
  const next = generateJoinToken(caDigest);
  return {
    worker: role === 'WORKER' ? next : (tokens?.worker ?? generateJoinToken(caDigest)),
    manager: role === 'MANAGER' ? next : (tokens?.manager ?? generateJoinToken(caDigest)),
  };
}

/**
 * Splits a join token into the CA digest it pins and its secret.
 * Throws InvalidArgument ("invalid join token: …") saying what is wrong.
 */
export function parseJoinToken(token: string): ParsedJoinToken {
  const t = token.trim();
  const hint = 'a join token looks like SWMTKN-1-<50 characters>-<25 characters>; get one with `shoal swarm join-token worker` on a manager';
  const parts = t.split('-');
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    throw invalidArgument(`invalid join token: it is not a swarm join token; ${hint}.`);
  }
  const [, version = '', digest = '', secret = ''] = parts;
  if (version !== VERSION) {
    throw invalidArgument(`invalid join token: unsupported token version '${version}' (this Shoal understands version ${VERSION}).`);
  }
  if (digest.length !== DIGEST_CHARS || !BASE36.test(digest)) {
    throw invalidArgument(`invalid join token: its CA digest part must be ${DIGEST_CHARS} base-36 characters; ${hint}.`);
  }
  if (secret.length !== SECRET_CHARS || !BASE36.test(secret)) {
    throw invalidArgument(`invalid join token: its secret part must be ${SECRET_CHARS} base-36 characters; ${hint}.`);
  }
  const n = fromBase36(digest);
  if (n >= 1n << 256n) throw invalidArgument('invalid join token: its CA digest part is out of range.');
  return { caDigest: `sha256:${n.toString(16).padStart(64, '0')}`, secret };
}

/** Compares two tokens in constant time (for equal lengths), so timing reveals no secret. */
export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a.trim());
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The role a token grants among the cluster's current tokens, or undefined
 * when it matches neither (wrong cluster, typo, or rotated out).
 */
export function roleForToken(token: string, tokens: JoinTokens__Output | null | undefined): CertRole | undefined {
  if (!tokens) return undefined;
  // Both comparisons always run, so timing does not tell which one matched.
  const worker = tokens.worker !== '' && tokensEqual(token, tokens.worker);
  const manager = tokens.manager !== '' && tokensEqual(token, tokens.manager);
  if (manager) return 'MANAGER';
  if (worker) return 'WORKER';
  return undefined;
}
