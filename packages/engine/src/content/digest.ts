import { createHash } from 'node:crypto';
import { invalidArgument } from '@shoal/api';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True for a well-formed `sha256:<64 hex>` digest. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/**
 * Checks a digest string and returns its hex part.
 *
 * @throws InvalidArgument when `digest` is not `sha256:<64 hex>`.
 */
export function digestHex(digest: string): string {
  if (!DIGEST_RE.test(digest)) {
    throw invalidArgument(`invalid digest "${digest}": expected sha256: followed by 64 hex digits.`);
  }
  return digest.slice('sha256:'.length);
}

/** `sha256:<hex>` of some bytes. */
export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
