export { openEmbeddedStore, kvOverCore } from './kv.js';
export type { StoreCore } from './kv.js';
export { realClock } from './store.js';
export type { EmbeddedStoreOptions, StoreClock } from './store.js';
export { WatchHub } from './watch.js';
export { lockDataDir } from './lock.js';
export { createStoreMetrics } from './metrics.js';
export type { StoreMetrics } from './metrics.js';
