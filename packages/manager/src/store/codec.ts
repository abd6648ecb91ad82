// The store's wire forms: objects, StoreAction lists (one Raft entry each)
// and snapshots, encoded with protobuf from proto/shoal/swarm/v1. Everything
// the store holds has been through `normalize`, which decodes each object
// from the very bytes that go into the log, so a leader's in-memory object is
// exactly what a follower decodes (float32 rounding, UTF-8 replacement of
// lone surrogates and all).
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

const types = new Map<string, ProtoType>();

function type(name: string): ProtoType {
  let t = types.get(name);
  if (!t) {
    t = root().lookupType(`${PACKAGE}.${name}`);
    types.set(name, t);
  }
  return t;
}

/**
 * The bytes as a Buffer (a view, no copy). protobufjs decodes a Buffer and a
 * plain Uint8Array differently: strings that are not valid UTF-8 (a lone
 * surrogate written by its encoder) and the type of bytes fields. Every
 * decode goes through here so that each member gets the same objects from
 * the same bytes, however its transport or disk handed them over.
 */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
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

// The checks below run on every write, so they build no strings while the
// input is valid: `path` is undefined on that first, fast walk, and a
// failure there only returns INVALID. `normalize` then walks again with
// paths to say what was wrong.
const INVALID = 'invalid';

/** A failure: the message when reporting (path given), else INVALID. */
function fail(path: string | undefined, message: (path: string) => string): string {
  return path === undefined ? INVALID : message(path);
}

/** What a field's values are, worked out once per field. */
type ValueKind =
  | { k: 'message'; type: ProtoType }
  | { k: 'enum'; names: Record<string, number>; ids: Record<number, string>; all: string }
  | { k: 'string' | 'bool' | 'number' | 'bytes' | 'other' }
  | { k: 'int' | 'long'; unsigned: boolean };

const KINDS = new WeakMap<ProtoField, ValueKind>();

function kindOf(field: ProtoField): ValueKind {
  let kind = KINDS.get(field);
  if (kind) return kind;
  const rt = field.resolvedType;
  const t = field.type;
  const unsigned = t.startsWith('u') || t.startsWith('fixed');
  if (rt instanceof protoReflection.Type) kind = { k: 'message', type: rt };
  else if (rt instanceof protoReflection.Enum) kind = { k: 'enum', names: rt.values, ids: rt.valuesById, all: Object.keys(rt.values).join(', ') };
  else if (t === 'string') kind = { k: 'string' };
  else if (t === 'bool') kind = { k: 'bool' };
  else if (t === 'double' || t === 'float') kind = { k: 'number' };
  else if (t === 'bytes') kind = { k: 'bytes' };
  else if (INT_TYPES.has(t)) kind = { k: 'int', unsigned };
  else if (LONG_TYPES.has(t)) kind = { k: 'long', unsigned };
  else kind = { k: 'other' };
  KINDS.set(field, kind);
  return kind;
}

/** Why `v` is not a valid value of one element of `field`, or undefined. */
function checkValue(field: ProtoField, v: unknown, path: string | undefined): string | undefined {
  const kind = kindOf(field);
  switch (kind.k) {
    case 'message':
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        return fail(path, (p) => `${p} must be an object, not ${describe(v)}`);
      }
      return checkMessage(kind.type, v as Record<string, unknown>, path);
    case 'enum':
      if (typeof v === 'string' && v in kind.names) return undefined;
      if (typeof v === 'number' && v in kind.ids) return undefined;
      return fail(path, (p) => `${p} must be one of ${kind.all}, not ${describe(v)}`);
    case 'string':
      return typeof v === 'string' ? undefined : fail(path, (p) => `${p} must be a string, not ${describe(v)}`);
    case 'bool':
      return typeof v === 'boolean' ? undefined : fail(path, (p) => `${p} must be true or false, not ${describe(v)}`);
    case 'number':
      return typeof v === 'number' ? undefined : fail(path, (p) => `${p} must be a number, not ${describe(v)}`);
    case 'bytes':
      return v instanceof Uint8Array || typeof v === 'string' ? undefined : fail(path, (p) => `${p} must be bytes, not ${describe(v)}`);
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v) && (!kind.unsigned || v >= 0)) return undefined;
      return fail(path, (p) => `${p} must be ${kind.unsigned ? 'a non-negative' : 'an'} integer, not ${describe(v)}`);
    case 'long': {
      const ok =
        (typeof v === 'number' && Number.isInteger(v)) ||
        (typeof v === 'string' && LONG_STRING.test(v)) ||
        (typeof v === 'object' && v !== null && 'low' in v && 'high' in v);
      const negative = (typeof v === 'number' && v < 0) || (typeof v === 'string' && v.startsWith('-'));
      if (ok && !(kind.unsigned && negative)) return undefined;
      return fail(path, (p) => `${p} must be ${kind.unsigned ? 'a non-negative' : 'an'} integer, not ${describe(v)}`);
    }
    case 'other':
      return undefined;
  }
}

const ONEOFS = new WeakMap<ProtoType, Array<{ name: string; names: string[]; fieldsArray: ProtoField[] }>>();

/** A type's oneofs with their members' names, worked out once per type. */
function oneofsOf(t: ProtoType): Array<{ name: string; names: string[]; fieldsArray: ProtoField[] }> {
  let oneofs = ONEOFS.get(t);
  if (!oneofs) {
    oneofs = t.oneofsArray.map((o) => ({ name: o.name, names: o.fieldsArray.map((f) => f.name), fieldsArray: o.fieldsArray }));
    ONEOFS.set(t, oneofs);
  }
  return oneofs;
}

function checkMessage(t: ProtoType, obj: Record<string, unknown>, path: string | undefined): string | undefined {
  const prefix = path === undefined || path === '' ? '' : `${path}.`;
  const keys = Object.keys(obj);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const v = obj[key];
    if (v === undefined || v === null) continue;
    const field = t.fields[key];
    if (!field) {
      // toObject's `oneofs: true` adds the case name as a virtual field.
      if (t.oneofs?.[key] && typeof v === 'string') continue;
      return fail(path, () => `${prefix}${key} is not a field of ${t.name}`);
    }
    const fpath = path === undefined ? undefined : `${prefix}${key}`;
    if (field.map) {
      if (typeof v !== 'object' || Array.isArray(v)) {
        return fail(fpath, (p) => `${p} must be an object of key/value pairs, not ${describe(v)}`);
      }
      const m = v as Record<string, unknown>;
      for (const k in m) {
        if (!Object.hasOwn(m, k)) continue;
        const why = checkValue(field, m[k], fpath === undefined ? undefined : `${fpath}[${JSON.stringify(k)}]`);
        if (why !== undefined) return why;
      }
    } else if (field.repeated) {
      if (!Array.isArray(v)) return fail(fpath, (p) => `${p} must be a list, not ${describe(v)}`);
      for (let j = 0; j < v.length; j++) {
        const why = checkValue(field, v[j], fpath === undefined ? undefined : `${fpath}[${j}]`);
        if (why !== undefined) return why;
      }
    } else {
      const why = checkValue(field, v, fpath);
      if (why !== undefined) return why;
    }
  }
  for (const oneof of oneofsOf(t)) {
    let set = 0;
    for (const name of oneof.names) if (obj[name] !== undefined && obj[name] !== null) set++;
    if (set > 1) {
      return fail(path, () => {
        const names = oneof.fieldsArray.filter((f) => obj[f.name] !== undefined && obj[f.name] !== null).map((f) => f.name);
        return `${prefix}${oneof.name} may have one of ${names.join(', ')}, not several`;
      });
    }
  }
  return undefined;
}

/** One object in stored form, with the protobuf bytes it was decoded from. */
export interface Normalized<K extends TableName> {
  /** Decoded from `bytes`, defaults filled, deeply frozen. */
  object: TableObjects[K];
  /** The object's encoding (as it is embedded in a StoreAction). */
  bytes: Uint8Array;
  /** bytes.length */
  size: number;
}

/**
 * Checks `input` against the table's message type and returns it in stored
 * form (defaults filled, int64 as strings, enums as names), decoded from its
 * own encoding, which is returned too. The object is deeply frozen.
 * @throws ShoalError InvalidArgument naming the first field that is wrong.
 */
export function normalize<K extends TableName>(table: K, input: unknown): Normalized<K> {
  const def = TABLES[table];
  const t = type(def.messageType);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidArgument(`A ${def.noun} must be an object, not ${describe(input)}.`);
  }
  if (checkMessage(t, input as Record<string, unknown>, undefined) !== undefined) {
    const why = checkMessage(t, input as Record<string, unknown>, '') ?? 'it does not match its type';
    throw invalidArgument(`Invalid ${def.noun}: ${why}.`);
  }
  const bytes = t.encode(t.fromObject(input)).finish();
  // Decoding the bytes (rather than converting the message directly) is what
  // makes the object equal to a follower's decode of the same entry.
  const object = freezeStored(t.toObject(t.decode(asBuffer(bytes)), TO_OBJECT) as TableObjects[K]);
  return { object, bytes, size: bytes.length };
}

/** The encoding of an object already in stored form (a committed object, for a delete). */
export function encodeObject(table: TableName, obj: StoreObject): Uint8Array {
  const t = type(TABLES[table].messageType);
  return t.encode(t.fromObject(obj)).finish();
}

/** A change whose object is already encoded (see `encodeActionList`). */
export interface EncodedAction {
  readonly kind: StoreActionKind;
  readonly table: TableName;
  /** The object's encoding: `normalize(...).bytes` or `encodeObject(...)`. */
  readonly bytes: Uint8Array;
}

/** Field numbers and kind values of StoreAction/StoreActionList, read from the proto once. */
interface ActionLayout {
  listField: number;
  kindField: number;
  kinds: Record<StoreActionKind, number>;
  targetField: Record<TableName, number>;
}

let cachedLayout: ActionLayout | undefined;

function actionLayout(): ActionLayout {
  if (cachedLayout) return cachedLayout;
  const list = type('StoreActionList');
  const action = type('StoreAction');
  const field = (t: ProtoType, name: string): ProtoField => {
    const f = t.fields[name];
    if (!f) throw new Error(`${t.name} has no field ${name}; the store's protos changed`);
    return f;
  };
  const kindEnum = field(action, 'kind').resolvedType;
  if (!(kindEnum instanceof protoReflection.Enum)) throw new Error('StoreAction.kind is not an enum');
  const kindValue = (name: string): number => {
    const v = kindEnum.values[name];
    if (v === undefined) throw new Error(`StoreAction.Kind has no ${name}`);
    return v;
  };
  const targetField = {} as Record<TableName, number>;
  for (const name of TABLE_NAMES) targetField[name] = field(action, TABLES[name].actionField).id;
  cachedLayout = {
    listField: field(list, 'actions').id,
    kindField: field(action, 'kind').id,
    kinds: { create: kindValue('CREATE'), update: kindValue('UPDATE'), delete: kindValue('DELETE') },
    targetField,
  };
  return cachedLayout;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Encodes changes whose objects are already encoded as a StoreActionList,
 * splicing each object's bytes in as they are: the same bytes protobufjs
 * writes for the list (fields in number order), without re-encoding objects.
 */
export function encodeActionList(actions: readonly EncodedAction[]): Uint8Array {
  const layout = actionLayout();
  const listTag = (layout.listField << 3) | WIRE_LEN;
  const kindTag = (layout.kindField << 3) | WIRE_VARINT;
  const inner = new Array<number>(actions.length);
  let total = 0;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i] as EncodedAction;
    const targetTag = (layout.targetField[a.table] << 3) | WIRE_LEN;
    const size =
      varintSize(kindTag) +
      varintSize(layout.kinds[a.kind]) +
      varintSize(targetTag) +
      varintSize(a.bytes.length) +
      a.bytes.length;
    inner[i] = size;
    total += varintSize(listTag) + varintSize(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i] as EncodedAction;
    pos = writeVarint(out, pos, listTag);
    pos = writeVarint(out, pos, inner[i] as number);
    pos = writeVarint(out, pos, kindTag);
    pos = writeVarint(out, pos, layout.kinds[a.kind]);
    pos = writeVarint(out, pos, (layout.targetField[a.table] << 3) | WIRE_LEN);
    pos = writeVarint(out, pos, a.bytes.length);
    out.set(a.bytes, pos);
    pos += a.bytes.length;
  }
  return out;
}

/** Encodes one transaction's changes as a StoreActionList (one Raft entry). */
export function encodeActions(actions: readonly DecodedAction[]): Uint8Array {
  return encodeActionList(actions.map((a) => ({ kind: a.kind, table: a.table, bytes: encodeObject(a.table, a.object) })));
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
    decoded = t.toObject(t.decode(asBuffer(data)), TO_OBJECT) as { actions: StoreAction__Output[] };
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
    decoded = t.toObject(t.decode(asBuffer(data)), TO_OBJECT) as StoreSnapshot__Output;
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
  if (Array.isArray(v)) {
    const n = v.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = cloneObject(v[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  const src = v as Record<string, unknown>;
  // Stored objects are plain objects (protobufjs toObject): no inherited keys.
  for (const k in src) out[k] = cloneObject(src[k]);
  return out as T;
}

// Shared by every stored object in place of an empty list or map (most of a
// task's repeated fields and maps are empty): fewer objects to hold and to
// collect. Frozen like everything stored; copies handed out are fresh.
const EMPTY_LIST: readonly never[] = Object.freeze([]);
const EMPTY_MAP: Readonly<Record<string, never>> = Object.freeze({});

function isEmptyObject(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return false;
  return Object.getPrototypeOf(o) === Object.prototype;
}

/**
 * Freezes an object the store owns (fresh from a decode, or a new outer
 * object around frozen parts) so that a stray write through an event fails
 * loudly; empty lists and maps inside it become shared frozen ones.
 */
export function freezeStored<T>(v: T): T {
  // Byte arrays cannot be frozen; they stay as they are.
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array || Object.isFrozen(v)) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) freezeStored(v[i] as unknown);
    return Object.freeze(v);
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const c = o[k];
    if (c === null || typeof c !== 'object' || Object.isFrozen(c)) continue;
    if (Array.isArray(c)) {
      if (c.length === 0) o[k] = EMPTY_LIST;
      else freezeStored(c);
    } else if (!(c instanceof Uint8Array) && isEmptyObject(c)) o[k] = EMPTY_MAP;
    else freezeStored(c);
  }
  return Object.freeze(v);
}
