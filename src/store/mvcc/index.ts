export { MvccState } from './state.js';
export type { ApplyOutcome, HistoryEntry, Lease } from './state.js';
export { encodeCommand, decodeCommand, commandSize, toBytes, toCommandCompare } from './command.js';
export type { Command, CommandOp, CommandCompare } from './command.js';
export { encodeSnapshot, decodeSnapshot } from './snapshot.js';
export { SortedKeys } from './sorted-keys.js';
export { ByteReader, ByteWriter } from './bytes.js';
