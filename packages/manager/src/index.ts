export * from './store/index.js';
export * from './raft/index.js';
