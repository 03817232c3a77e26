export { replaceTemplate } from './edit.js';
export type { ObjectRef } from './edit.js';
export { findRollbackTarget, ROLLBACK_KINDS } from './target.js';
export type { RollbackTarget } from './target.js';
export { authorOf, historyPrefix, manifestTemplate, OVERRIDES_PREFIX, rollbackHandler } from './handler.js';
export type { LiveRollbackPin, RollbackOptions, RollbackReply } from './handler.js';
export { rollbackWriter } from './writer.js';
export type { RollbackWriterOptions } from './writer.js';
