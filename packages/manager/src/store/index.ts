export { MemoryStore } from './memory-store.js';
export type { Batch, BatchResult, MemoryStoreOptions, UpdateOptions } from './memory-store.js';
export { InMemoryProposer } from './proposer.js';
export type { CommittedEntry, CommittedListener, InMemoryProposerOptions, Proposer, ProposeResult } from './proposer.js';
export type { ReadTx, WriteTx, TableReader, TableWriter } from './tx.js';
export {
  all,
  byDesiredState,
  byIdPrefix,
  byMembership,
  byName,
  byNamePrefix,
  byNode,
  byReferencedConfig,
  byReferencedNetwork,
  byReferencedSecret,
  byRole,
  byService,
  bySlot,
  byTaskState,
  or,
} from './selectors.js';
export type { Selector } from './selectors.js';
export { Watcher } from './watch.js';
export type {
  EventMatch,
  StoreChangeEvent,
  StoreCommitEvent,
  StoreEvent,
  StoreEventKind,
  WatchFilter,
  WatchOptions,
} from './watch.js';
export { TABLE_NAMES, nodeName, taskName } from './tables.js';
export type { StoreObject, TableInputs, TableName, TableObjects } from './tables.js';
export { decodeActions, encodeActions, decodeSnapshot, encodeSnapshot } from './codec.js';
export type { DecodedAction, SnapshotContents, StoreActionKind } from './codec.js';
export { newObjectId } from './ids.js';
