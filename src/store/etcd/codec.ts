// Translation between the KV contract and etcd's wire types: key prefixing, key-value
// conversion and the client-side request checks. Pure functions, no I/O.

import type { IKeyValue, IResponseHeader } from 'etcd3';
import { CapstanError } from '../../common/index.js';
import { MAX_REQUEST_BYTES, type KeyValue, type TxnRequest } from '../types.js';

const EMPTY = new Uint8Array(0);

/** Maps contract keys to etcd keys under one prefix, and back. */
export class KeySpace {
  readonly prefix: Buffer;

  constructor(prefix: string) {
    this.prefix = Buffer.from(prefix, 'utf8');
  }

  /** The etcd key for a contract key; validates it first. */
  key(key: string): Buffer {
    checkKey(key);
    return Buffer.concat([this.prefix, Buffer.from(key, 'utf8')]);
  }

  /**
   * The etcd [key, range_end) for a lookup. With `prefix`, an empty key means every key under
   * the store prefix; without it the key must not be empty.
   */
  range(key: string, prefix: boolean): { key: Buffer; range_end?: Buffer } {
    if (!prefix) return { key: this.key(key) };
    if (key !== '') checkKey(key);
    const start = Buffer.concat([this.prefix, Buffer.from(key, 'utf8')]);
    // etcd reads key "\0" with range_end "\0" as "all keys".
    if (start.length === 0) return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
    return { key: start, range_end: prefixEnd(start) };
  }

  /** The contract key for an etcd key. */
  strip(key: Buffer): string {
    return key.subarray(this.prefix.length).toString('utf8');
  }

  kv(raw: IKeyValue): KeyValue {
    return {
      key: this.strip(raw.key),
      value: raw.value && raw.value.length > 0 ? new Uint8Array(raw.value) : EMPTY,
      createRevision: num(raw.create_revision),
      modRevision: num(raw.mod_revision),
      version: num(raw.version),
      lease: num(raw.lease),
    };
  }
}

/** The smallest key greater than every key starting with `start` (etcd's prefix range end). */
export function prefixEnd(start: Buffer): Buffer {
  const end = Buffer.from(start);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i] += 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: no upper bound, etcd spells that as "\0".
  return Buffer.from([0]);
}

/** int64 fields arrive as decimal strings; revisions stay far below 2^53. */
export function num(value: string | number | undefined | null): number {
  if (value === undefined || value === null || value === '') return 0;
  return Number(value);
}

export function headerRevision(header: IResponseHeader | undefined): number {
  return num(header?.revision);
}

// A lone surrogate has no UTF-8 encoding: Buffer.from would silently write U+FFFD instead.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CapstanError('CAPSTAN_ERR_STORE_INVALID_KEY', 'the key is empty', {
      context: { key },
    });
  }
  if (LONE_SURROGATE.test(key)) {
    throw new CapstanError('CAPSTAN_ERR_STORE_INVALID_KEY', 'the key is not valid UTF-8', {
      context: { key },
    });
  }
}

export function toBuffer(value: Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function byteLength(value: Uint8Array | string | number): number {
  if (typeof value === 'number') return 8;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  return value.byteLength;
}

/** Bytes of keys and values in a request, the measure the 1.5 MiB limit applies to. */
export function putSize(key: string, value: Uint8Array | string): number {
  return byteLength(key) + byteLength(value);
}

export function txnSize(request: TxnRequest): number {
  let size = 0;
  for (const c of request.compare) size += byteLength(c.key) + byteLength(c.value);
  for (const op of [...request.success, ...request.failure]) {
    size += byteLength(op.key);
    if (op.type === 'put') size += byteLength(op.value);
  }
  return size;
}

/** Refuse a request over the limit before it leaves the process. */
export function checkSize(size: number, what: string): void {
  if (size > MAX_REQUEST_BYTES) {
    throw new CapstanError(
      'CAPSTAN_ERR_STORE_TOO_LARGE',
      `the ${what} request is ${size} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`,
      { context: { size, limit: MAX_REQUEST_BYTES } },
    );
  }
}
