export { Allocator } from './allocator.js';
export type { AllocatorDeps } from './allocator.js';
