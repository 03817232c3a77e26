export { setAnnotations, readAnnotations, locateObject } from './annotate.js';
export type { ObjectLocation } from './annotate.js';
export {
  STATUS_ANNOTATIONS,
  MAX_MESSAGE_LENGTH,
  sanitizeMessage,
  statusAnnotations,
  releaseAnnotations,
  worstPhase,
  isMeaningfulChange,
  sameAnnotations,
} from './fields.js';
export type { StatusAnnotations } from './fields.js';
export { openStatusRepo } from './repo.js';
export type { StatusRepo, CommitAuthor, UpdateResult, OpenedRepo, OpenStatusRepoOptions } from './repo.js';
export { StatusWriter, DEFAULT_STATUS_AUTHOR, commitMessage } from './writer.js';
export type { StatusWriterOptions, StatusWriterState, FlushResult } from './writer.js';
