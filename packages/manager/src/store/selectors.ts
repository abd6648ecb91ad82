import type { NodeRole__Output, NodeSpec__Output, TaskState__Output } from '@shoal/api';
import { invalidArgument } from '@shoal/api';
import { TABLES, slotKey } from './tables.js';
import type { IndexName, StoreObject, TableName } from './tables.js';

/**
 * The closed set of queries `find` understands. Build them with the `by*`
 * functions below; each reads one secondary index, so a table that lacks the
 * index refuses the selector rather than scanning.
 */
export type Selector =
  | { readonly by: 'all' }
  | { readonly by: 'idPrefix'; readonly prefix: string }
  | { readonly by: 'namePrefix'; readonly prefix: string }
  | { readonly by: 'index'; readonly index: IndexName; readonly key: string; readonly label: string }
  | { readonly by: 'or'; readonly selectors: readonly Selector[] };

const index = (name: IndexName, key: string, label: string): Selector => ({ by: 'index', index: name, key, label });

/** Every object of the table. */
export const all: Selector = { by: 'all' };
/** Objects whose name equals `name`, ignoring case (nodes: name or hostname; tasks: service.slot.id). */
export const byName = (name: string): Selector => index('name', name.toLowerCase(), `byName(${name})`);
/** Objects whose name starts with `prefix`, ignoring case. */
export const byNamePrefix = (prefix: string): Selector => ({ by: 'namePrefix', prefix: prefix.toLowerCase() });
/** Objects whose id starts with `prefix`. */
export const byIdPrefix = (prefix: string): Selector => ({ by: 'idPrefix', prefix });
/** Tasks of a service. */
export const byService = (serviceId: string): Selector => index('service', serviceId, `byService(${serviceId})`);
/** Tasks assigned to a node. */
export const byNode = (nodeId: string): Selector => index('node', nodeId, `byNode(${nodeId})`);
/** Tasks of one slot of a replicated service (every generation of it). */
export const bySlot = (serviceId: string, slot: number | string): Selector =>
  index('slot', slotKey(serviceId, slot), `bySlot(${serviceId}, ${String(slot)})`);
/** Tasks whose desired state is `state`. */
export const byDesiredState = (state: TaskState__Output): Selector =>
  index('desiredState', state, `byDesiredState(${state})`);
/** Tasks whose observed state (status.state) is `state`. */
export const byTaskState = (state: TaskState__Output): Selector => index('taskState', state, `byTaskState(${state})`);
/** Nodes whose current role is `role`. */
export const byRole = (role: NodeRole__Output): Selector => index('role', role, `byRole(${role})`);
/** Nodes whose membership is `membership`. */
export const byMembership = (membership: NodeSpec__Output['membership']): Selector =>
  index('membership', membership, `byMembership(${membership})`);
/** Services and tasks that use a secret. */
export const byReferencedSecret = (secretId: string): Selector =>
  index('referencedSecret', secretId, `byReferencedSecret(${secretId})`);
/** Services and tasks that use a config. */
export const byReferencedConfig = (configId: string): Selector =>
  index('referencedConfig', configId, `byReferencedConfig(${configId})`);
/** Services and tasks attached to a network. */
export const byReferencedNetwork = (networkId: string): Selector =>
  index('referencedNetwork', networkId, `byReferencedNetwork(${networkId})`);
/** Objects any of `selectors` matches (each once). */
export const or = (...selectors: Selector[]): Selector => ({ by: 'or', selectors });

function label(s: Selector): string {
  switch (s.by) {
    case 'all':
      return 'all';
    case 'idPrefix':
      return `byIdPrefix(${s.prefix})`;
    case 'namePrefix':
      return `byNamePrefix(${s.prefix})`;
    case 'index':
      return s.label;
    case 'or':
      return `or(${s.selectors.map(label).join(', ')})`;
  }
}

/**
 * Throws unless `table` has the indexes `s` needs.
 * @throws ShoalError InvalidArgument for a selector the table does not support.
 */
export function checkSelector(table: TableName, s: Selector): void {
  const indexes = TABLES[table].indexes;
  if (s.by === 'or') {
    for (const inner of s.selectors) checkSelector(table, inner);
    return;
  }
  const needed = s.by === 'index' ? s.index : s.by === 'namePrefix' ? 'name' : undefined;
  if (needed && !indexes[needed]) {
    throw invalidArgument(`The ${table} table cannot be queried ${label(s)}; use a selector it indexes.`);
  }
}

/** Whether `obj` (of `table`) is selected by `s`; the same rule the indexes implement. */
export function selectorMatches(table: TableName, s: Selector, obj: StoreObject): boolean {
  switch (s.by) {
    case 'all':
      return true;
    case 'idPrefix':
      return obj.id.startsWith(s.prefix);
    case 'namePrefix':
      return (TABLES[table].indexes.name?.(obj) ?? []).some((k) => k.startsWith(s.prefix));
    case 'index':
      return (TABLES[table].indexes[s.index]?.(obj) ?? []).includes(s.key);
    case 'or':
      return s.selectors.some((inner) => selectorMatches(table, inner, obj));
  }
}
