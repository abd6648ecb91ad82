import { createHash } from 'node:crypto';

/**
 * The chain IDs of a stack of layers (OCI image spec): the first is the
 * first diff ID, each next one is sha256("<previous chain ID> <diff ID>").
 * A chain ID names a committed snapshot.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const diffId of diffIds) {
    prev = prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`;
    out.push(prev);
  }
  return out;
}

/** The chain ID of the whole stack, or undefined for an image without layers. */
export function chainId(diffIds: readonly string[]): string | undefined {
  return chainIds(diffIds).at(-1);
}
