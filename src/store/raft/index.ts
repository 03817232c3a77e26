export { RaftCore } from './core.js';
export type {
  ConfChange,
  ConfChangeRefusal,
  ConfChangeResult,
  Entry,
  HardState,
  Progress,
  RaftConfig,
  RaftMessage,
  RaftMessageType,
  RaftOptions,
  RaftRole,
  RaftSnapshot,
  ReadState,
  Ready,
} from './types.js';
export { applyConfChange, decodeConfChange, decodeConfEntry, encodeConfChange, isConfChange, CONF_CHANGE_TAG } from './confchange.js';
export { Wal } from './wal.js';
export type { WalOptions, WalSnapshot, WalState } from './wal.js';
export { nodeWalFs } from './wal-fs.js';
export type { WalFs, WalFile } from './wal-fs.js';
export { crc32c } from './crc32c.js';
