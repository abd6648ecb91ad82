export * from './apply-layer.js';
export * from './changes.js';
export * from './decompress.js';
export * from './run-command.js';
export * from './safe-path.js';
