export * from './errors.js';
export * from './abort.js';
export * from './logger.js';
export * from './proto.js';
export type * from "./gen/index.js";
export * from './reference.js';
export * from './units.js';
export * from './task-state.js';
