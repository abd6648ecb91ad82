export * from './engine.js';
export * from './events/bus.js';
export type { IoFrame, IoSession } from './containers/io.js';
export type { ContainerRecord } from './containers/record.js';
