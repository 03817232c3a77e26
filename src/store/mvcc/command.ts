// Commands are what the log carries: each committed entry decodes to one command, and the
// state machine applies it. Time enters only as a field of a command (`now`), chosen by the
// leader when it proposes, so every member applies the same log to the same state.
import type { Compare, CompareOp, CompareTarget } from '../types.js';
import { ByteReader, ByteWriter } from './bytes.js';

export type CommandOp =
  | { type: 'put'; key: string; value: Uint8Array; lease: number }
  | { type: 'delete'; key: string; prefix: boolean }
  | { type: 'get'; key: string; prefix: boolean; limit: number };

export interface CommandCompare {
  key: string;
  target: CompareTarget;
  op: CompareOp;
  /** Bytes for `value` compares, a number for the others. */
  value: number | Uint8Array;
}

export type Command =
  | { type: 'put'; key: string; value: Uint8Array; lease: number }
  | { type: 'delete'; key: string; prefix: boolean }
  | { type: 'txn'; compare: CommandCompare[]; success: CommandOp[]; failure: CommandOp[] }
  | { type: 'compact'; revision: number }
  | { type: 'leaseGrant'; ttlSeconds: number; now: number }
  | { type: 'leaseKeepAlive'; id: number; now: number }
  | { type: 'leaseRevoke'; id: number }
  | { type: 'leaseExpire'; now: number }
  /** A new leader gives every lease at least a full TTL from `now`, as etcd does on promotion. */
  | { type: 'leasePromote'; now: number };

const TAG = {
  put: 1,
  delete: 2,
  txn: 3,
  compact: 4,
  leaseGrant: 5,
  leaseKeepAlive: 6,
  leaseRevoke: 7,
  leaseExpire: 8,
  leasePromote: 9,
} as const;
const OP_TAG = { put: 1, delete: 2, get: 3 } as const;
const TARGETS: CompareTarget[] = ['value', 'version', 'createRevision', 'modRevision', 'lease'];
const OPS: CompareOp[] = ['==', '!=', '<', '>'];

const encoder = new TextEncoder();

/** Bytes for a value given as a string or bytes (strings are UTF-8). */
export function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? encoder.encode(v) : v;
}

/** Normalises a contract-level compare into the command form. */
export function toCommandCompare(c: Compare): CommandCompare {
  const value = c.target === 'value' ? toBytes(typeof c.value === 'number' ? String(c.value) : c.value) : Number(c.value);
  return { key: c.key, target: c.target, op: c.op, value };
}

function writeOp(w: ByteWriter, op: CommandOp): void {
  w.u8(OP_TAG[op.type]).str(op.key);
  if (op.type === 'put') w.bytes(op.value).f64(op.lease);
  else if (op.type === 'delete') w.u8(op.prefix ? 1 : 0);
  else w.u8(op.prefix ? 1 : 0).f64(op.limit);
}

function readOp(r: ByteReader): CommandOp {
  const tag = r.u8();
  const key = r.str();
  if (tag === OP_TAG.put) return { type: 'put', key, value: r.bytes(), lease: r.f64() };
  if (tag === OP_TAG.delete) return { type: 'delete', key, prefix: r.u8() === 1 };
  if (tag === OP_TAG.get) return { type: 'get', key, prefix: r.u8() === 1, limit: r.f64() };
  throw new RangeError(`unknown txn op tag ${tag}`);
}

export function encodeCommand(c: Command): Buffer {
  if (c.type === 'put') {
    // The hot path: one exact-size allocation.
    const w = new ByteWriter(1 + 4 + Buffer.byteLength(c.key) + 4 + c.value.length + 8);
    return w.u8(TAG.put).str(c.key).bytes(c.value).f64(c.lease).finish();
  }
  const w = new ByteWriter(64);
  w.u8(TAG[c.type]);
  switch (c.type) {
    case 'delete':
      w.str(c.key).u8(c.prefix ? 1 : 0);
      break;
    case 'txn':
      w.u32(c.compare.length);
      for (const cmp of c.compare) {
        w.str(cmp.key).u8(TARGETS.indexOf(cmp.target)).u8(OPS.indexOf(cmp.op));
        if (cmp.value instanceof Uint8Array) w.u8(1).bytes(cmp.value);
        else w.u8(0).f64(cmp.value);
      }
      w.u32(c.success.length);
      for (const op of c.success) writeOp(w, op);
      w.u32(c.failure.length);
      for (const op of c.failure) writeOp(w, op);
      break;
    case 'compact':
      w.f64(c.revision);
      break;
    case 'leaseGrant':
      w.f64(c.ttlSeconds).f64(c.now);
      break;
    case 'leaseKeepAlive':
      w.f64(c.id).f64(c.now);
      break;
    case 'leaseRevoke':
      w.f64(c.id);
      break;
    case 'leaseExpire':
    case 'leasePromote':
      w.f64(c.now);
      break;
  }
  // Entries stay in the in-memory log until the next snapshot: no doubling slack.
  return w.finishExact();
}

export function decodeCommand(data: Uint8Array): Command {
  const r = new ByteReader(data);
  const tag = r.u8();
  switch (tag) {
    case TAG.put:
      return { type: 'put', key: r.str(), value: r.bytes(), lease: r.f64() };
    case TAG.delete:
      return { type: 'delete', key: r.str(), prefix: r.u8() === 1 };
    case TAG.txn: {
      const compare: CommandCompare[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const key = r.str();
        const target = TARGETS[r.u8()]!;
        const op = OPS[r.u8()]!;
        const value = r.u8() === 1 ? r.bytes() : r.f64();
        compare.push({ key, target, op, value });
      }
      const success: CommandOp[] = [];
      for (let n = r.u32(); n > 0; n--) success.push(readOp(r));
      const failure: CommandOp[] = [];
      for (let n = r.u32(); n > 0; n--) failure.push(readOp(r));
      return { type: 'txn', compare, success, failure };
    }
    case TAG.compact:
      return { type: 'compact', revision: r.f64() };
    case TAG.leaseGrant:
      return { type: 'leaseGrant', ttlSeconds: r.f64(), now: r.f64() };
    case TAG.leaseKeepAlive:
      return { type: 'leaseKeepAlive', id: r.f64(), now: r.f64() };
    case TAG.leaseRevoke:
      return { type: 'leaseRevoke', id: r.f64() };
    case TAG.leaseExpire:
      return { type: 'leaseExpire', now: r.f64() };
    case TAG.leasePromote:
      return { type: 'leasePromote', now: r.f64() };
    default:
      throw new RangeError(`unknown command tag ${tag}`);
  }
}

/** Approximate request size for the 1.5 MiB limit: keys and values, as etcd counts them. */
export function commandSize(c: Command): number {
  const opSize = (op: CommandOp) => Buffer.byteLength(op.key) + (op.type === 'put' ? op.value.length : 0);
  switch (c.type) {
    case 'put':
      return Buffer.byteLength(c.key) + c.value.length;
    case 'delete':
      return Buffer.byteLength(c.key);
    case 'txn': {
      let n = 0;
      for (const cmp of c.compare) n += Buffer.byteLength(cmp.key) + (cmp.value instanceof Uint8Array ? cmp.value.length : 8);
      for (const op of c.success) n += opSize(op);
      for (const op of c.failure) n += opSize(op);
      return n;
    }
    default:
      return 16;
  }
}
