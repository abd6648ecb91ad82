export * from './chain-id.js';
export * from './mount.js';
export * from './overlay-snapshotter.js';
export * from './snapshotter.js';
