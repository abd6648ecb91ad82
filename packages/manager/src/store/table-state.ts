import { TABLES } from './tables.js';
import type { IndexName, StoreObject, TableDef, TableName } from './tables.js';
import type { Selector } from './selectors.js';

/** One table's committed objects (frozen) and their secondary indexes. */
export class TableState {
  readonly def: TableDef;
  readonly #objects = new Map<string, StoreObject>();
  readonly #indexes = new Map<IndexName, Map<string, Set<string>>>();

  constructor(name: TableName) {
    this.def = TABLES[name];
    for (const index of Object.keys(this.def.indexes) as IndexName[]) this.#indexes.set(index, new Map());
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
    if (old) this.#unindex(old);
    this.#objects.set(obj.id, obj);
    this.#index(obj);
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

  #index(obj: StoreObject): void {
    for (const [name, keysOf] of Object.entries(this.def.indexes) as [IndexName, (o: StoreObject) => string[]][]) {
      const index = this.#indexes.get(name);
      if (!index) continue;
      for (const key of keysOf(obj)) {
        let ids = index.get(key);
        if (!ids) index.set(key, (ids = new Set()));
        ids.add(obj.id);
      }
    }
  }

  #unindex(obj: StoreObject): void {
    for (const [name, keysOf] of Object.entries(this.def.indexes) as [IndexName, (o: StoreObject) => string[]][]) {
      const index = this.#indexes.get(name);
      if (!index) continue;
      for (const key of keysOf(obj)) {
        const ids = index.get(key);
        ids?.delete(obj.id);
        if (ids?.size === 0) index.delete(key);
      }
    }
  }
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
