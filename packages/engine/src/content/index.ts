export * from './content-store.js';
export * from './digest.js';
