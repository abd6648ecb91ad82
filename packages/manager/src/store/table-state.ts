import { TABLES } from './tables.js';
import type { IndexName, StoreObject, TableDef, TableName } from './tables.js';
import type { Selector } from './selectors.js';

/** One table's committed objects (frozen) and their secondary indexes. */
export class TableState {
  readonly def: TableDef;
  readonly #objects = new Map<string, StoreObject>();
  readonly #indexes = new Map<IndexName, Map<string, Set<string>>>();
  /** The indexes with their key functions, for the write path. */
  readonly #indexList: Array<{ keysOf: (o: StoreObject) => string[]; keys: Map<string, Set<string>> }> = [];

  constructor(name: TableName) {
    this.def = TABLES[name];
    for (const [index, keysOf] of Object.entries(this.def.indexes) as [IndexName, (o: StoreObject) => string[]][]) {
      const keys = new Map<string, Set<string>>();
      this.#indexes.set(index, keys);
      this.#indexList.push({ keysOf, keys });
    }
  }

  get size(): number {
    return this.#objects.size;
  }

  get(id: string): StoreObject | undefined {
    return this.#objects.get(id);
  }

  values(): IterableIterator<StoreObject> {
    return this.#objects.values();
  }

  put(obj: StoreObject): void {
    const old = this.#objects.get(obj.id);
    this.#objects.set(obj.id, obj);
    for (const { keysOf, keys } of this.#indexList) {
      const after = keysOf(obj);
      if (old) {
        const before = keysOf(old);
        // Most updates leave most keys alone (a task's service, slot, name…).
        if (sameKeys(before, after)) continue;
        for (const k of before) unindexKey(keys, k, obj.id);
      }
      for (const k of after) indexKey(keys, k, obj.id);
    }
  }

  remove(id: string): void {
    const old = this.#objects.get(id);
    if (!old) return;
    this.#unindex(old);
    this.#objects.delete(id);
  }

  /** The ids `s` selects (the caller has checked the table supports it). */
  select(s: Selector): Set<string> {
    switch (s.by) {
      case 'all':
        return new Set(this.#objects.keys());
      case 'idPrefix':
        return new Set([...this.#objects.keys()].filter((id) => id.startsWith(s.prefix)));
      case 'namePrefix': {
        const out = new Set<string>();
        for (const [key, ids] of this.#indexes.get('name') ?? []) {
          if (key.startsWith(s.prefix)) for (const id of ids) out.add(id);
        }
        return out;
      }
      case 'index':
        return new Set(this.#indexes.get(s.index)?.get(s.key) ?? []);
      case 'or': {
        const out = new Set<string>();
        for (const inner of s.selectors) for (const id of this.select(inner)) out.add(id);
        return out;
      }
    }
  }

  #unindex(obj: StoreObject): void {
    for (const { keysOf, keys } of this.#indexList) for (const k of keysOf(obj)) unindexKey(keys, k, obj.id);
  }
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function indexKey(index: Map<string, Set<string>>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(id);
}

function unindexKey(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (!ids) return;
  ids.delete(id);
  if (ids.size === 0) index.delete(key);
}

export type Tables = Record<TableName, TableState>;

export function emptyTables(): Tables {
  return {
    nodes: new TableState('nodes'),
    services: new TableState('services'),
    tasks: new TableState('tasks'),
    networks: new TableState('networks'),
    volumes: new TableState('volumes'),
    secrets: new TableState('secrets'),
    configs: new TableState('configs'),
    clusters: new TableState('clusters'),
  };
}
