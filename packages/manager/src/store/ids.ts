import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * A new object id: 25 lowercase base-36 characters from 128 random bits,
 * the shape swarm ids have.
 */
export function newObjectId(): string {
  let n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  let out = '';
  for (let i = 0; i < 25; i++) {
    out = (ALPHABET[Number(n % 36n)] ?? '0') + out;
    n /= 36n;
  }
  return out;
}
