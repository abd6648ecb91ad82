export * from './config-changes.js';
export * from './filters.js';
export * from './image-service.js';
export * from './image-store.js';
export * from './oci-types.js';
export * from './docker-archive.js';
