export { openEmbeddedStore } from './kv.js';
export { realClock } from './store.js';
export type { EmbeddedStoreOptions, StoreClock } from './store.js';
