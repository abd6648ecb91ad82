// References to cluster objects as users type them: a full ID, a name (a
// node's hostname), or a unique ID prefix, tried in that order as docker does.
import { invalidArgument, notFound } from '@shoal/api';
import { byIdPrefix, byName } from '../store/index.js';
import type { ReadTx, TableObjects } from '../store/index.js';

export type RefTable = 'nodes' | 'services' | 'tasks' | 'clusters' | 'networks';

const NOUN: Record<RefTable, string> = {
  nodes: 'node',
  services: 'service',
  tasks: 'task',
  clusters: 'cluster',
  networks: 'network',
};

/**
 * The object `ref` names, if any.
 * @throws ShoalError InvalidArgument when `ref` is empty or matches several objects.
 */
export function findRef<K extends RefTable>(tx: ReadTx, table: K, ref: string): TableObjects[K] | undefined {
  const noun = NOUN[table];
  if (ref === '') throw invalidArgument(`a ${noun} ID or name must be provided`);
  const reader = tx[table] as unknown as { get(id: string): TableObjects[K] | undefined; find(s?: unknown): TableObjects[K][] };
  const exact = reader.get(ref);
  if (exact) return exact;
  const named = reader.find(byName(ref));
  if (named.length === 1) return named[0];
  if (named.length > 1) {
    throw invalidArgument(`${noun} ${ref} is ambiguous (${named.length} ${noun}s have this name); use the ID instead`);
  }
  const prefixed = reader.find(byIdPrefix(ref));
  if (prefixed.length === 1) return prefixed[0];
  if (prefixed.length > 1) {
    throw invalidArgument(`${noun} ${ref} is ambiguous (${prefixed.length} matches found); give more of the ID`);
  }
  return undefined;
}

/**
 * The object `ref` names.
 * @throws ShoalError NotFound ("No such service: web") when none does;
 *   InvalidArgument when `ref` is empty or ambiguous.
 */
export function resolveRef<K extends RefTable>(tx: ReadTx, table: K, ref: string): TableObjects[K] {
  const found = findRef(tx, table, ref);
  if (!found) throw notFound(`No such ${NOUN[table]}: ${ref}`);
  return found;
}
