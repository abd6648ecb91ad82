// @shoal/raft: the pure Raft core, its in-memory storage and the deterministic simulator.
export * from './core/types.js';
export * from './core/errors.js';
export { MemoryStorage, emptyHardState, emptySnapshot, entrySize, limitSize, cloneConfState } from './core/memory-storage.js';
export { encodeConfChange, decodeConfChange } from './core/conf-change.js';
export { ReadOnlyOption } from './core/read-only.js';
export { ProgressState } from './core/progress.js';
export { RaftCore, newMessage } from './core/raft-core.js';
export type { RaftCoreOptions, RaftStatus, ProgressStatus, RaftTestingBugs } from './core/raft-core.js';
export * from './storage/index.js';
export { RaftNode } from './node/raft-node.js';
export type { RaftNodeOptions, RaftNodeStatus, RaftNodeProgress, RaftNodeLogger, StateMachine, ProposeResult } from './node/raft-node.js';
export { RaftNodeError, RaftNodeErrorCode, isNotLeader, isIndeterminate } from './node/errors.js';
export type { RaftNodeErrorOptions } from './node/errors.js';
export type { Transport, TransportHandler, Peer } from './transport/transport.js';
export { LocalNetwork, LocalTransport } from './transport/local-transport.js';
export { GrpcTransport, DEFAULT_MAX_MESSAGE_BYTES } from './transport/grpc-transport.js';
export type { GrpcTransportOptions, GrpcTransportCredentials, GrpcTransportLogger } from './transport/grpc-transport.js';
