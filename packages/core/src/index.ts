export * from './errors.js';
export * from './geometry.js';
export type { KvStore } from './store.js';
export { ReferenceStore } from './stores/reference-store.js';
export * from './model/index.js';
