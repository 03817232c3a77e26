export { RaftCore } from './core.js';
export type { Entry, HardState, Progress, RaftMessage, RaftOptions, RaftRole, Ready } from './types.js';
