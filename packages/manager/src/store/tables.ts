import type {
  Cluster,
  Cluster__Output,
  Config,
  Config__Output,
  Network,
  Network__Output,
  Node,
  Node__Output,
  Secret,
  Secret__Output,
  Service,
  Service__Output,
  Task,
  Task__Output,
  Volume,
  Volume__Output,
} from '@shoal/api';

/** The store's tables, in the order snapshots and listings use. */
export const TABLE_NAMES = [
  'nodes',
  'services',
  'tasks',
  'networks',
  'volumes',
  'secrets',
  'configs',
  'clusters',
] as const;
export type TableName = (typeof TABLE_NAMES)[number];

/** The stored (decoded, defaults filled) form of each table's objects. */
export interface TableObjects {
  nodes: Node__Output;
  services: Service__Output;
  tasks: Task__Output;
  networks: Network__Output;
  volumes: Volume__Output;
  secrets: Secret__Output;
  configs: Config__Output;
  clusters: Cluster__Output;
}

/** What callers may hand to create/update: the protobuf input form. */
export interface TableInputs {
  nodes: Node;
  services: Service;
  tasks: Task;
  networks: Network;
  volumes: Volume;
  secrets: Secret;
  configs: Config;
  clusters: Cluster;
}

export type StoreObject = TableObjects[TableName];

/** The secondary indexes a table can have; each selector reads one. */
export type IndexName =
  | 'name'
  | 'service'
  | 'node'
  | 'slot'
  | 'desiredState'
  | 'taskState'
  | 'role'
  | 'membership'
  | 'referencedSecret'
  | 'referencedConfig'
  | 'referencedNetwork';

/** Keys an object has in one index (an object may have several, or none). */
export type IndexKeys = (obj: StoreObject) => string[];

export interface TableDef {
  readonly name: TableName;
  /** The object's message name in proto/shoal/swarm/v1. */
  readonly messageType: string;
  /** The StoreAction oneof field that carries this table's objects. */
  readonly actionField: string;
  /** Singular, for messages: "No such service: web." */
  readonly noun: string;
  /** Whether two live objects may not share a name (case-insensitive). */
  readonly uniqueNames: boolean;
  readonly indexes: Partial<Record<IndexName, IndexKeys>>;
}

// Keys of several parts are joined with a byte no name or id can contain.
export const KEY_SEP = '\u0000';

const lower = (s: string | undefined | null): string => (s ?? '').toLowerCase();
const nonEmpty = (keys: string[]): string[] => keys.filter((k) => k !== '');
const uniq = (keys: string[]): string[] => [...new Set(keys)];

/**
 * The name a node goes by: its spec name, or the hostname it reported when
 * the user gave none (as `docker node ls` shows).
 */
export function nodeName(n: Node__Output): string {
  return n.spec?.annotations?.name || n.description?.hostname || '';
}

/**
 * A task's name: its own annotation, or service.slot.id (replicated) and
 * service.node.id (global), as swarm names task containers.
 */
export function taskName(t: Task__Output): string {
  if (t.annotations?.name) return t.annotations.name;
  const service = t.service_annotations?.name ?? '';
  if (service === '') return '';
  const middle = t.slot !== '0' ? t.slot : t.node_id;
  return `${service}.${middle}.${t.id}`;
}

const specName = (o: StoreObject): string[] => {
  const spec = (o as { spec?: { annotations?: { name?: string } | null } | null }).spec;
  return nonEmpty([lower(spec?.annotations?.name)]);
};

function serviceRefs(o: StoreObject): {
  secrets: string[];
  configs: string[];
  networks: string[];
} {
  const spec = o as Service__Output;
  const task = spec.spec?.task;
  return {
    secrets: (task?.container?.secrets ?? []).map((s) => s.secret_id),
    configs: (task?.container?.configs ?? []).map((c) => c.config_id),
    networks: [
      ...(task?.networks ?? []).map((n) => n.target),
      ...(spec.endpoint?.virtual_ips ?? []).map((v) => v.network_id),
    ],
  };
}

function taskRefs(o: StoreObject): { secrets: string[]; configs: string[]; networks: string[] } {
  const t = o as Task__Output;
  return {
    secrets: (t.spec?.container?.secrets ?? []).map((s) => s.secret_id),
    configs: (t.spec?.container?.configs ?? []).map((c) => c.config_id),
    networks: [
      ...(t.spec?.networks ?? []).map((n) => n.target),
      ...t.networks.map((n) => n.network_id),
    ],
  };
}

type Refs = { secrets: string[]; configs: string[]; networks: string[] };

const refIndexes = (refsOf: (o: StoreObject) => Refs) => {
  // The three indexes are computed one after another for the same object
  // (and for the object it replaces): remember the last two frozen objects'
  // refs rather than walk each three times. A frozen object cannot change.
  const recent: Array<{ o: StoreObject; refs: Refs }> = [];
  const refs = (o: StoreObject): Refs => {
    for (const r of recent) if (r.o === o) return r.refs;
    const computed = refsOf(o);
    if (Object.isFrozen(o)) {
      recent.unshift({ o, refs: computed });
      if (recent.length > 2) recent.pop();
    }
    return computed;
  };
  return {
    referencedSecret: (o: StoreObject) => uniq(nonEmpty(refs(o).secrets)),
    referencedConfig: (o: StoreObject) => uniq(nonEmpty(refs(o).configs)),
    referencedNetwork: (o: StoreObject) => uniq(nonEmpty(refs(o).networks)),
  };
};

/** The slot index key of a task (service id + slot). */
export function slotKey(serviceId: string, slot: number | string): string {
  return `${serviceId}${KEY_SEP}${String(slot)}`;
}

export const TABLES: Readonly<Record<TableName, TableDef>> = {
  nodes: {
    name: 'nodes',
    messageType: 'Node',
    actionField: 'node',
    noun: 'node',
    uniqueNames: false,
    indexes: {
      name: (o) => nonEmpty([lower(nodeName(o as Node__Output))]),
      role: (o) => [(o as Node__Output).role],
      membership: (o) => [(o as Node__Output).spec?.membership ?? 'PENDING'],
    },
  },
  services: {
    name: 'services',
    messageType: 'Service',
    actionField: 'service',
    noun: 'service',
    uniqueNames: true,
    indexes: { name: specName, ...refIndexes(serviceRefs) },
  },
  tasks: {
    name: 'tasks',
    messageType: 'Task',
    actionField: 'task',
    noun: 'task',
    uniqueNames: false,
    indexes: {
      name: (o) => nonEmpty([lower(taskName(o as Task__Output))]),
      service: (o) => nonEmpty([(o as Task__Output).service_id]),
      node: (o) => nonEmpty([(o as Task__Output).node_id]),
      slot: (o) => {
        const t = o as Task__Output;
        return t.service_id === '' ? [] : [slotKey(t.service_id, t.slot)];
      },
      desiredState: (o) => [(o as Task__Output).desired_state],
      taskState: (o) => [(o as Task__Output).status?.state ?? 'NEW'],
      ...refIndexes(taskRefs),
    },
  },
  networks: {
    name: 'networks',
    messageType: 'Network',
    actionField: 'network',
    noun: 'network',
    uniqueNames: true,
    indexes: { name: specName },
  },
  volumes: {
    name: 'volumes',
    messageType: 'Volume',
    actionField: 'volume',
    noun: 'volume',
    uniqueNames: true,
    indexes: { name: specName },
  },
  secrets: {
    name: 'secrets',
    messageType: 'Secret',
    actionField: 'secret',
    noun: 'secret',
    uniqueNames: true,
    indexes: { name: specName },
  },
  configs: {
    name: 'configs',
    messageType: 'Config',
    actionField: 'config',
    noun: 'config',
    uniqueNames: true,
    indexes: { name: specName },
  },
  clusters: {
    name: 'clusters',
    messageType: 'Cluster',
    actionField: 'cluster',
    noun: 'cluster',
    uniqueNames: true,
    indexes: { name: specName },
  },
};

/** The table whose StoreAction field is `field`, if any. */
export function tableOfActionField(field: string): TableDef | undefined {
  return Object.values(TABLES).find((t) => t.actionField === field);
}
