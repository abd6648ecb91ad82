export * from './engine.js';
export * from './events/bus.js';
export type { IoFrame, IoSession } from './containers/io.js';
export type { ContainerRecord } from './containers/record.js';
export * from './content/index.js';
export * from './archive/index.js';
export * from './snapshots/index.js';
export * from './images/index.js';
