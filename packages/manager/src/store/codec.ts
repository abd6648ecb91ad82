// The store's wire forms: objects, StoreAction lists (one Raft entry each)
// and snapshots, encoded with protobuf from proto/shoal/swarm/v1. Everything
// the store holds has been through `normalize`, so a leader's in-memory object
// is exactly what a follower decodes from the log.
import { invalidArgument, dataLoss } from '@shoal/api';
import { loadProtoRoot, protoReflection } from '@shoal/api/proto-root';
import type { ProtoField, ProtoRoot, ProtoType } from '@shoal/api/proto-root';
import type { StoreAction__Output, StoreSnapshot__Output } from '@shoal/api';
import { TABLES, TABLE_NAMES, tableOfActionField } from './tables.js';
import type { StoreObject, TableDef, TableName, TableObjects } from './tables.js';

// Must match LOADER_OPTIONS in @shoal/api so decoded objects have exactly the
// generated `X__Output` shapes (int64 as decimal strings, enums as names,
// every field present, the oneof's case named).
const TO_OBJECT: Parameters<ProtoType['toObject']>[1] = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const PACKAGE = 'shoal.swarm.v1';

let cachedRoot: ProtoRoot | undefined;

function root(): ProtoRoot {
  cachedRoot ??= loadProtoRoot(['shoal/swarm/v1/store.proto']);
  return cachedRoot;
}

function type(name: string): ProtoType {
  return root().lookupType(`${PACKAGE}.${name}`);
}

/** One decoded change, in the store's terms. */
export type StoreActionKind = 'create' | 'update' | 'delete';

export type DecodedAction = {
  [K in TableName]: { kind: StoreActionKind; table: K; object: TableObjects[K] };
}[TableName];

const LONG_STRING = /^-?\d+$/;
const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Why `v` is not a valid value of one element of `field`, or undefined. */
function checkValue(field: ProtoField, v: unknown, path: string): string | undefined {
  const rt = field.resolvedType;
  if (rt instanceof protoReflection.Type) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      return `${path} must be an object, not ${describe(v)}`;
    }
    return checkMessage(rt, v as Record<string, unknown>, path);
  }
  if (rt instanceof protoReflection.Enum) {
    if (typeof v === 'string' && v in rt.values) return undefined;
    if (typeof v === 'number' && v in rt.valuesById) return undefined;
    return `${path} must be one of ${Object.keys(rt.values).join(', ')}, not ${describe(v)}`;
  }
  const t = field.type;
  if (t === 'string') return typeof v === 'string' ? undefined : `${path} must be a string, not ${describe(v)}`;
  if (t === 'bool') return typeof v === 'boolean' ? undefined : `${path} must be true or false, not ${describe(v)}`;
  if (t === 'double' || t === 'float') {
    return typeof v === 'number' ? undefined : `${path} must be a number, not ${describe(v)}`;
  }
  if (t === 'bytes') {
    return v instanceof Uint8Array || typeof v === 'string' ? undefined : `${path} must be bytes, not ${describe(v)}`;
  }
  const unsigned = t.startsWith('u') || t.startsWith('fixed');
  if (INT_TYPES.has(t)) {
    if (typeof v === 'number' && Number.isInteger(v) && (!unsigned || v >= 0)) return undefined;
    return `${path} must be ${unsigned ? 'a non-negative' : 'an'} integer, not ${describe(v)}`;
  }
  if (LONG_TYPES.has(t)) {
    const ok =
      (typeof v === 'number' && Number.isInteger(v)) ||
      (typeof v === 'string' && LONG_STRING.test(v)) ||
      (typeof v === 'object' && v !== null && 'low' in v && 'high' in v);
    const negative = (typeof v === 'number' && v < 0) || (typeof v === 'string' && v.startsWith('-'));
    if (ok && !(unsigned && negative)) return undefined;
    return `${path} must be ${unsigned ? 'a non-negative' : 'an'} integer, not ${describe(v)}`;
  }
  return undefined;
}

function checkMessage(t: ProtoType, obj: Record<string, unknown>, path: string): string | undefined {
  const prefix = path === '' ? '' : `${path}.`;
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    const field = t.fields[key];
    if (!field) {
      // toObject's `oneofs: true` adds the case name as a virtual field.
      if (t.oneofs?.[key] && typeof v === 'string') continue;
      return `${prefix}${key} is not a field of ${t.name}`;
    }
    const fpath = `${prefix}${key}`;
    if (field.map) {
      if (typeof v !== 'object' || Array.isArray(v)) return `${fpath} must be an object of key/value pairs, not ${describe(v)}`;
      for (const [k, mv] of Object.entries(v as Record<string, unknown>)) {
        const why = checkValue(field, mv, `${fpath}[${JSON.stringify(k)}]`);
        if (why) return why;
      }
    } else if (field.repeated) {
      if (!Array.isArray(v)) return `${fpath} must be a list, not ${describe(v)}`;
      for (const [i, ev] of v.entries()) {
        const why = checkValue(field, ev, `${fpath}[${i}]`);
        if (why) return why;
      }
    } else {
      const why = checkValue(field, v, fpath);
      if (why) return why;
    }
  }
  for (const oneof of t.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => obj[f.name] !== undefined && obj[f.name] !== null);
    if (set.length > 1) return `${prefix}${oneof.name} may have one of ${set.map((f) => f.name).join(', ')}, not several`;
  }
  return undefined;
}

/**
 * Checks `input` against the table's message type and returns it in stored
 * form (defaults filled, int64 as strings, enums as names) with its encoded
 * size.
 * @throws ShoalError InvalidArgument naming the first field that is wrong.
 */
export function normalize<K extends TableName>(
  table: K,
  input: unknown,
): { object: TableObjects[K]; size: number } {
  const def = TABLES[table];
  const t = type(def.messageType);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidArgument(`A ${def.noun} must be an object, not ${describe(input)}.`);
  }
  const why = checkMessage(t, input as Record<string, unknown>, '');
  if (why) throw invalidArgument(`Invalid ${def.noun}: ${why}.`);
  const msg = t.fromObject(input);
  const size = t.encode(msg).finish().length;
  return { object: t.toObject(msg, TO_OBJECT) as TableObjects[K], size };
}

function actionMessage(a: DecodedAction): Record<string, unknown> {
  return { kind: a.kind.toUpperCase(), [TABLES[a.table].actionField]: a.object };
}

/** Encodes one transaction's changes as a StoreActionList (one Raft entry). */
export function encodeActions(actions: readonly DecodedAction[]): Uint8Array {
  const t = type('StoreActionList');
  return t.encode(t.fromObject({ actions: actions.map(actionMessage) })).finish();
}

function toDecoded(a: StoreAction__Output, where: string): DecodedAction {
  const def: TableDef | undefined = a.target ? tableOfActionField(a.target) : undefined;
  const kind = a.kind === 'UNKNOWN' ? undefined : (a.kind.toLowerCase() as StoreActionKind);
  const object = def ? (a as unknown as Record<string, StoreObject | null>)[def.actionField] : null;
  if (!def || !kind || !object) {
    throw dataLoss(`${where} holds a store action with no kind or object; the log or snapshot is corrupt.`);
  }
  return { kind, table: def.name, object } as DecodedAction;
}

/**
 * Decodes a StoreActionList.
 * @throws ShoalError DataLoss when the bytes are not a valid list.
 */
export function decodeActions(data: Uint8Array): DecodedAction[] {
  const t = type('StoreActionList');
  let decoded: { actions: StoreAction__Output[] };
  try {
    decoded = t.toObject(t.decode(data), TO_OBJECT) as { actions: StoreAction__Output[] };
  } catch (err) {
    throw dataLoss(`A store entry could not be decoded (${(err as Error).message}); the log is corrupt.`, { cause: err });
  }
  return decoded.actions.map((a) => toDecoded(a, 'A store entry'));
}

/** The whole store as of a Raft index, object lists sorted by id. */
export interface SnapshotContents {
  index: number;
  tables: { [K in TableName]: TableObjects[K][] };
}

/** Encodes a snapshot; equal contents give equal bytes. */
export function encodeSnapshot(s: SnapshotContents): Uint8Array {
  const t = type('StoreSnapshot');
  return t.encode(t.fromObject({ index: s.index, ...s.tables })).finish();
}

/**
 * Decodes a snapshot.
 * @throws ShoalError DataLoss when the bytes are not a valid snapshot.
 */
export function decodeSnapshot(data: Uint8Array): SnapshotContents {
  const t = type('StoreSnapshot');
  let decoded: StoreSnapshot__Output;
  try {
    decoded = t.toObject(t.decode(data), TO_OBJECT) as StoreSnapshot__Output;
  } catch (err) {
    throw dataLoss(`A store snapshot could not be decoded (${(err as Error).message}); it is corrupt.`, { cause: err });
  }
  const tables = {} as SnapshotContents['tables'];
  for (const name of TABLE_NAMES) {
    (tables as Record<TableName, StoreObject[]>)[name] = decoded[name];
  }
  return { index: Number(decoded.index), tables };
}

/** A deep copy that keeps Buffers as Buffers (structuredClone does not). */
export function cloneObject<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map((e: unknown) => cloneObject(e)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) out[k] = cloneObject(e);
  return out as T;
}

/** Freezes a stored object so that a stray write through an event fails loudly. */
export function deepFreeze<T>(v: T): T {
  // Byte arrays cannot be frozen; they stay as they are.
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array || Object.isFrozen(v)) return v;
  for (const e of Object.values(v)) deepFreeze(e);
  return Object.freeze(v);
}
