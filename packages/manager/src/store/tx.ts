import { alreadyExists, conflict, failedPrecondition, invalidArgument, notFound } from '@shoal/api';
import { cloneObject, encodeObject, normalize } from './codec.js';
import type { DecodedAction, EncodedAction } from './codec.js';
import { checkSelector, selectorMatches, all, byName } from './selectors.js';
import type { Selector } from './selectors.js';
import { TABLES, TABLE_NAMES } from './tables.js';
import type { StoreObject, TableInputs, TableName, TableObjects } from './tables.js';
import type { Tables } from './table-state.js';

/** Reads of one table. Results are private copies: change them freely. */
export interface TableReader<K extends TableName> {
  /** The object with this id, or undefined. */
  get(id: string): TableObjects[K] | undefined;
  /**
   * The objects `selector` picks (default: all), sorted by id.
   * @throws ShoalError InvalidArgument when the table lacks the selector's index.
   */
  find(selector?: Selector): TableObjects[K][];
}

/** Reads and writes of one table inside `store.update`. */
export interface TableWriter<K extends TableName> extends TableReader<K> {
  /**
   * Adds a new object; the caller chooses its id (see `newObjectId`). Its
   * version is 0 until the transaction commits.
   * @throws ShoalError InvalidArgument for a malformed object or empty id;
   *   AlreadyExists when the id, or for named tables the name, is taken.
   */
  create(obj: TableInputs[K]): TableObjects[K];
  /**
   * Replaces an object. `obj.meta.version` must be the version that was
   * read: a write based on an older read is refused.
   * @throws ShoalError NotFound; Conflict when the stored version differs;
   *   InvalidArgument for a malformed object; AlreadyExists on a name clash.
   */
  update(obj: TableInputs[K]): TableObjects[K];
  /**
   * Removes an object.
   * @throws ShoalError NotFound when there is none with this id.
   */
  delete(id: string): void;
}

export type ReadTx = { readonly [K in TableName]: TableReader<K> };
export type WriteTx = { readonly [K in TableName]: TableWriter<K> };

type Timestamp = { seconds: string; nanos: number };

function timestamp(d: Date): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

const versionOf = (o: StoreObject): string => o.meta?.version?.index ?? '0';

function sortById<T extends StoreObject>(objs: T[]): T[] {
  return objs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A read-only view of the committed state. */
export class ReadTransaction {
  #open = true;
  protected readonly tables: Tables;
  readonly #readers = new Map<TableName, TableReader<TableName>>();

  constructor(tables: Tables) {
    this.tables = tables;
    for (const name of TABLE_NAMES) {
      Object.defineProperty(this, name, { get: () => this.reader(name), enumerable: true });
    }
  }

  close(): void {
    this.#open = false;
  }

  protected assertOpen(): void {
    if (!this.#open) {
      throw failedPrecondition(
        'A store transaction was used after its callback returned; do all reads and writes inside the callback.',
      );
    }
  }

  protected reader<K extends TableName>(name: K): TableReader<K> {
    let r = this.#readers.get(name);
    if (!r) {
      r = this.makeAccessor(name);
      this.#readers.set(name, r);
    }
    return r as unknown as TableReader<K>;
  }

  protected makeAccessor<K extends TableName>(name: K): TableReader<K> {
    return {
      get: (id) => {
        this.assertOpen();
        const o = this.lookup(name, id);
        return o ? cloneObject(o as TableObjects[K]) : undefined;
      },
      find: (selector = all) => {
        this.assertOpen();
        checkSelector(name, selector);
        return sortById(this.select(name, selector).map((o) => cloneObject(o as TableObjects[K])));
      },
    };
  }

  protected lookup(table: TableName, id: string): StoreObject | undefined {
    return this.tables[table].get(id);
  }

  protected select(table: TableName, selector: Selector): StoreObject[] {
    const state = this.tables[table];
    return [...state.select(selector)].map((id) => state.get(id)).filter((o): o is StoreObject => o !== undefined);
  }
}

/** A change pending in a write transaction: the committed object it started from and where it stands now. */
interface Pending {
  readonly table: TableName;
  /** The committed object when the transaction first touched this id. */
  readonly base: StoreObject | undefined;
  /** The object now (normalized and frozen), or null once deleted. */
  readonly obj: StoreObject | null;
  /** The encoding of the object the action carries: obj, or base for a delete. */
  readonly bytes: Uint8Array | undefined;
}

/** A change to its action, or undefined when it nets out (created and deleted in the transaction). */
function toAction(p: Pending): (DecodedAction & EncodedAction) | undefined {
  if (p.obj !== null) {
    return { kind: p.base ? 'update' : 'create', table: p.table, object: p.obj, bytes: p.bytes } as DecodedAction & EncodedAction;
  }
  if (p.base) return { kind: 'delete', table: p.table, object: p.base, bytes: p.bytes } as DecodedAction & EncodedAction;
  return undefined;
}

// Room for a StoreAction's kind, oneof tag and the list's length prefixes.
const ACTION_OVERHEAD = 16;

function actionBytes(p: Pending | undefined): number {
  if (p === undefined || (p.base === undefined && p.obj === null)) return 0;
  return (p.bytes?.length ?? 0) + ACTION_OVERHEAD;
}

function actionCount(p: Pending | undefined): number {
  return p === undefined || (p.base === undefined && p.obj === null) ? 0 : 1;
}

/** A point a write transaction can roll back to (see `WriteTransaction.savepoint`). */
export interface Savepoint {
  /** Length of the undo journal when it was taken. */
  readonly journal: number;
  readonly actions: number;
  readonly bytes: number;
}

/** A write transaction: its changes are private until committed. */
export class WriteTransaction extends ReadTransaction {
  // Keys are only ever added (a delete is a change to null), so the map's
  // order is the order ids were first touched.
  readonly #changes = new Map<string, Pending>();
  // Undo journal: each change's key and what it replaced, so savepoints cost
  // nothing and rolling back costs only what is undone.
  readonly #journal: Array<{ key: string; prev: Pending | undefined }> = [];
  #actions = 0;
  #bytes = 0;
  readonly #now: Timestamp;

  constructor(tables: Tables, now: Date) {
    super(tables);
    this.#now = timestamp(now);
  }

  savepoint(): Savepoint {
    return { journal: this.#journal.length, actions: this.#actions, bytes: this.#bytes };
  }

  /** Undoes every change made since `sp`; savepoints taken after it become invalid. */
  rollbackTo(sp: Savepoint): void {
    while (this.#journal.length > sp.journal) {
      const { key: k, prev } = this.#journal.pop() as { key: string; prev: Pending | undefined };
      if (prev === undefined) this.#changes.delete(k);
      else this.#changes.set(k, prev);
    }
    this.#actions = sp.actions;
    this.#bytes = sp.bytes;
  }

  /** How many actions and (an upper bound of) bytes the pending changes make. */
  pendingSize(): { actions: number; bytes: number } {
    return { actions: this.#actions, bytes: this.#bytes };
  }

  /** The pending changes as actions, one per object, in the order first touched, with their objects' encodings. */
  actions(): Array<DecodedAction & EncodedAction> {
    const out: Array<DecodedAction & EncodedAction> = [];
    for (const p of this.#changes.values()) {
      const a = toAction(p);
      if (a) out.push(a);
    }
    return out;
  }

  #set(k: string, next: Pending): void {
    const prev = this.#changes.get(k);
    this.#journal.push({ key: k, prev });
    this.#changes.set(k, next);
    this.#actions += actionCount(next) - actionCount(prev);
    this.#bytes += actionBytes(next) - actionBytes(prev);
  }

  protected override makeAccessor<K extends TableName>(name: K): TableWriter<K> {
    return {
      ...super.makeAccessor(name),
      create: (obj) => this.#create(name, obj),
      update: (obj) => this.#update(name, obj),
      delete: (id) => this.#delete(name, id),
    };
  }

  protected override lookup(table: TableName, id: string): StoreObject | undefined {
    const p = this.#changes.get(key(table, id));
    if (p) return p.obj ?? undefined;
    return super.lookup(table, id);
  }

  protected override select(table: TableName, selector: Selector): StoreObject[] {
    const out = super.select(table, selector).filter((o) => !this.#changes.has(key(table, o.id)));
    for (const p of this.#changes.values()) {
      if (p.table === table && p.obj && selectorMatches(table, selector, p.obj)) out.push(p.obj);
    }
    return out;
  }

  #create<K extends TableName>(table: K, input: TableInputs[K]): TableObjects[K] {
    this.assertOpen();
    const def = TABLES[table];
    const id = rawId(def.noun, input);
    if (this.lookup(table, id)) throw alreadyExists(`A ${def.noun} with id ${id} already exists.`);
    const prior = this.#changes.get(key(table, id));
    const base = prior ? prior.base : this.tables[table].get(id);
    // Re-creating an id deleted earlier in this transaction replaces the
    // committed object, so the write is based on its version.
    const meta = { version: { index: base ? versionOf(base) : '0' }, created_at: this.#now, updated_at: this.#now };
    const { object, bytes } = normalize(table, { ...input, meta });
    this.#checkName(table, object);
    this.#set(key(table, id), { table, base, obj: object, bytes });
    return cloneObject(object);
  }

  #update<K extends TableName>(table: K, input: TableInputs[K]): TableObjects[K] {
    this.assertOpen();
    const def = TABLES[table];
    const id = rawId(def.noun, input);
    const current = this.lookup(table, id);
    if (!current) throw notFound(`No such ${def.noun}: ${id}.`);
    const read = rawVersion(input);
    const stored = versionOf(current);
    if (read !== stored) {
      throw conflict(
        `The ${def.noun} ${id} changed after it was read (now version ${stored}, this write is based on version ${read}); read it again and retry.`,
      );
    }
    const meta = { version: { index: stored }, created_at: current.meta?.created_at ?? this.#now, updated_at: this.#now };
    const { object, bytes } = normalize(table, { ...input, meta });
    this.#checkName(table, object);
    const prior = this.#changes.get(key(table, id));
    const base = prior ? prior.base : this.tables[table].get(id);
    this.#set(key(table, id), { table, base, obj: object, bytes });
    return cloneObject(object);
  }

  #delete(table: TableName, id: string): void {
    this.assertOpen();
    const def = TABLES[table];
    const current = this.lookup(table, id);
    if (!current) throw notFound(`No such ${def.noun}: ${id}.`);
    const prior = this.#changes.get(key(table, id));
    const base = prior ? prior.base : this.tables[table].get(id);
    // A delete carries the object as first read, for the replicas' version check.
    const bytes = base ? encodeObject(table, base) : undefined;
    this.#set(key(table, id), { table, base, obj: null, bytes });
  }

  #checkName(table: TableName, obj: StoreObject): void {
    const def = TABLES[table];
    if (!def.uniqueNames) return;
    const name = def.indexes.name?.(obj)[0];
    if (!name) return;
    const clash = this.select(table, byName(name)).find((o) => o.id !== obj.id);
    if (clash) {
      const shown = (obj as { spec?: { annotations?: { name?: string } | null } | null }).spec?.annotations?.name ?? name;
      throw alreadyExists(`A ${def.noun} named ${shown} already exists; choose another name.`);
    }
  }
}

function key(table: TableName, id: string): string {
  return `${table}/${id}`;
}

function rawId(noun: string, input: unknown): string {
  const id = (input as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || id === '') {
    throw invalidArgument(`A ${noun} needs a non-empty string id; generate one with newObjectId().`);
  }
  return id;
}

function rawVersion(input: unknown): string {
  const index = (input as { meta?: { version?: { index?: unknown } | null } | null }).meta?.version?.index;
  if (index === undefined || index === null) return '0';
  if (typeof index === 'number' || typeof index === 'string' || typeof index === 'bigint') return String(index);
  if (typeof index === 'object' && 'toString' in index) return (index as { toString(): string }).toString();
  return '0';
}
