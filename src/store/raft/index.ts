export { RaftCore } from './core.js';
export type { Entry, HardState, Progress, RaftMessage, RaftOptions, RaftRole, Ready } from './types.js';
export { Wal } from './wal.js';
export type { WalOptions, WalSnapshot, WalState } from './wal.js';
export { nodeWalFs } from './wal-fs.js';
export type { WalFs, WalFile } from './wal-fs.js';
export { crc32c } from './crc32c.js';
