export * from './errors.js';
export * from './geometry.js';
export type { KvStore } from './store.js';
export { ReferenceStore } from './stores/reference-store.js';
export { PagedStore, type PagedStoreOptions } from './stores/paged-store.js';
export { PagedPool, type PagedPoolOptions } from './stores/paged-pool.js';
export * from './model/index.js';
