// WAL record framing: [len u32][crc32c u32][type u8][payload], little-endian, where len is
// the payload length and the CRC covers type and payload. Parsing tells a torn tail (an
// unfinished last write, safe to cut) from corruption of a record that was complete.
import { copyBytes } from '../mvcc/bytes.js';
import { crc32c } from './crc32c.js';
import type { Entry, HardState } from './types.js';

export const HEADER_BYTES = 9;
export const RECORD_ENTRY = 1;
export const RECORD_HARD_STATE = 2;

/** Bytes one entry takes as a record. */
export function entryRecordSize(e: Entry): number {
  return HEADER_BYTES + 16 + e.data.length;
}

export const HARD_STATE_RECORD_BYTES = HEADER_BYTES + 24;

function seal(buf: Buffer, at: number, payloadLen: number): void {
  buf.writeUInt32LE(payloadLen, at);
  buf.writeUInt32LE(crc32c(buf, 0, at + 8, at + HEADER_BYTES + payloadLen), at + 4);
}

/** Frames entries and, when given, a hard state into one buffer for a single write. */
export function encodeRecords(entries: Entry[], hs: HardState | undefined): Buffer {
  let size = hs ? HARD_STATE_RECORD_BYTES : 0;
  for (const e of entries) size += entryRecordSize(e);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of entries) {
    buf[at + 8] = RECORD_ENTRY;
    buf.writeDoubleLE(e.index, at + 9);
    buf.writeDoubleLE(e.term, at + 17);
    copyBytes(e.data, buf, at + 25);
    seal(buf, at, 16 + e.data.length);
    at += entryRecordSize(e);
  }
  if (hs) {
    buf[at + 8] = RECORD_HARD_STATE;
    buf.writeDoubleLE(hs.term, at + 9);
    buf.writeDoubleLE(hs.vote, at + 17);
    buf.writeDoubleLE(hs.commit, at + 25);
    seal(buf, at, 24);
  }
  return buf;
}

export type ParsedRecord = { type: 'entry'; entry: Entry } | { type: 'hardState'; hardState: HardState };

export type ParseEnd =
  | { kind: 'clean' }
  /** An unfinished last record from `offset` on: cut it. */
  | { kind: 'torn'; offset: number; reason: string }
  /** A complete record that fails its check, with more data after it. */
  | { kind: 'corrupt'; offset: number; reason: string };

function allZero(b: Uint8Array, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Parses a segment's bytes; entry data is copied so the file buffer is not retained. */
export function parseRecords(data: Buffer, onRecord: (r: ParsedRecord) => void): ParseEnd {
  let at = 0;
  while (at < data.length) {
    if (allZero(data, at)) return { kind: 'torn', offset: at, reason: 'zero-filled tail' };
    if (data.length - at < HEADER_BYTES) return { kind: 'torn', offset: at, reason: 'partial record header' };
    const len = data.readUInt32LE(at);
    const end = at + HEADER_BYTES + len;
    if (end > data.length) return { kind: 'torn', offset: at, reason: 'record runs past the end of the file' };
    const crc = data.readUInt32LE(at + 4);
    if (crc32c(data, 0, at + 8, end) !== crc) {
      // A bad checksum on the very last record is an interrupted write; anywhere else the
      // record was complete once, so its loss would drop committed data.
      if (end === data.length) return { kind: 'torn', offset: at, reason: 'checksum mismatch on the last record' };
      return { kind: 'corrupt', offset: at, reason: 'checksum mismatch' };
    }
    const type = data[at + 8];
    if (type === RECORD_ENTRY && len >= 16) {
      const index = data.readDoubleLE(at + 9);
      const term = data.readDoubleLE(at + 17);
      onRecord({ type: 'entry', entry: { index, term, data: new Uint8Array(data.subarray(at + 25, end)) } });
    } else if (type === RECORD_HARD_STATE && len === 24) {
      onRecord({
        type: 'hardState',
        hardState: { term: data.readDoubleLE(at + 9), vote: data.readDoubleLE(at + 17), commit: data.readDoubleLE(at + 25) },
      });
    } else {
      return { kind: 'corrupt', offset: at, reason: `unknown record type ${type}` };
    }
    at = end;
  }
  return { kind: 'clean' };
}
