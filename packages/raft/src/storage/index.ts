// Raft's durable storage: the WAL, snapshot files, and their protobuf encoding.
export * from './codec.js';
export * from './disk-storage.js';
export * from './errors.js';
export * from './fs.js';
export * from './logger.js';
export { RecordType, RECORD_HEADER_BYTES } from './record.js';
export * from './snapshot-store.js';
export * from './wal.js';
