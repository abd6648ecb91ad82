import type { NodeRole__Output } from '@shoal/api';

/** The node roles a certificate can hold; the same values as the Node object's `role`. */
export type CertRole = NodeRole__Output;

/** The certificate OU and DNS name of a manager; clients verify a manager's identity against it. */
export const MANAGER_ROLE_NAME = 'swarm-manager';
/** The certificate OU and DNS name of a worker. */
export const WORKER_ROLE_NAME = 'swarm-worker';
/** The root CA's common name, and a DNS name in every manager certificate (managers serve the CA API). */
export const CA_ROLE_NAME = 'swarm-ca';

/** The OU (and DNS name) a certificate carries for `role`. */
export function roleName(role: CertRole): string {
  return role === 'MANAGER' ? MANAGER_ROLE_NAME : WORKER_ROLE_NAME;
}

/** The role an OU names, or undefined when it names none. */
export function roleFromName(name: string | undefined): CertRole | undefined {
  if (name === MANAGER_ROLE_NAME) return 'MANAGER';
  if (name === WORKER_ROLE_NAME) return 'WORKER';
  return undefined;
}
