// Wire formats between members: Raft messages as compact binary batches (one request body
// carries every message queued for a peer), and request results as JSON in which byte
// arrays travel as base64.
import { CapstanError, type ErrorCode } from '../../common/index.js';
import { ByteReader, ByteWriter } from '../mvcc/index.js';
import type { Entry, RaftMessage } from '../raft/index.js';

const TYPE = {
  vote: 1,
  voteResponse: 2,
  append: 3,
  appendResponse: 4,
  preVote: 5,
  preVoteResponse: 6,
  heartbeat: 7,
  heartbeatResponse: 8,
  snapshot: 9,
  readIndex: 10,
  readIndexResponse: 11,
  timeoutNow: 12,
} as const satisfies Record<RaftMessage['type'], number>;

/** Optional numbers travel as NaN when absent. */
const opt = (v: number | undefined): number => (v === undefined ? NaN : v);
const unopt = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

function writeIds(w: ByteWriter, ids: number[]): void {
  w.u32(ids.length);
  for (const id of ids) w.f64(id);
}

function readIds(r: ByteReader): number[] {
  const ids: number[] = [];
  for (let n = r.u32(); n > 0; n--) ids.push(r.f64());
  return ids;
}

function writeMessage(w: ByteWriter, m: RaftMessage): void {
  w.u8(TYPE[m.type]).f64(m.from).f64(m.to).f64(m.term);
  switch (m.type) {
    case 'vote':
      w.f64(m.lastLogIndex).f64(m.lastLogTerm).u8(m.transfer ? 1 : 0);
      break;
    case 'preVote':
      w.f64(m.lastLogIndex).f64(m.lastLogTerm);
      break;
    case 'voteResponse':
    case 'preVoteResponse':
      w.u8(m.granted ? 1 : 0);
      break;
    case 'append':
      w.f64(m.prevLogIndex).f64(m.prevLogTerm).f64(m.commit).u32(m.entries.length);
      for (const e of m.entries) w.f64(e.term).f64(e.index).bytes(e.data);
      break;
    case 'appendResponse':
      w.u8(m.success ? 1 : 0).f64(m.matchIndex).f64(opt(m.rejectIndex)).f64(opt(m.hintTerm));
      break;
    case 'heartbeat':
      w.f64(m.commit).f64(opt(m.context));
      break;
    case 'heartbeatResponse':
      w.f64(opt(m.context));
      break;
    case 'snapshot': {
      const s = m.snapshot;
      w.f64(s.index).f64(s.term);
      writeIds(w, s.config.voters);
      writeIds(w, s.config.learners);
      w.bytes(s.data);
      break;
    }
    case 'readIndex':
      w.str(m.requestId);
      break;
    case 'readIndexResponse':
      w.str(m.requestId).f64(m.index);
      break;
    case 'timeoutNow':
      break;
  }
}

function readMessage(r: ByteReader): RaftMessage {
  const tag = r.u8();
  const from = r.f64();
  const to = r.f64();
  const term = r.f64();
  const env = { from, to, term };
  switch (tag) {
    case TYPE.vote: {
      const lastLogIndex = r.f64();
      const lastLogTerm = r.f64();
      const transfer = r.u8() === 1;
      return { type: 'vote', ...env, lastLogIndex, lastLogTerm, ...(transfer ? { transfer } : {}) };
    }
    case TYPE.preVote:
      return { type: 'preVote', ...env, lastLogIndex: r.f64(), lastLogTerm: r.f64() };
    case TYPE.voteResponse:
      return { type: 'voteResponse', ...env, granted: r.u8() === 1 };
    case TYPE.preVoteResponse:
      return { type: 'preVoteResponse', ...env, granted: r.u8() === 1 };
    case TYPE.append: {
      const prevLogIndex = r.f64();
      const prevLogTerm = r.f64();
      const commit = r.f64();
      const entries: Entry[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const t = r.f64();
        const index = r.f64();
        // Copied: the log keeps entries long after the request body is gone.
        entries.push({ term: t, index, data: Buffer.from(r.bytes()) });
      }
      return { type: 'append', ...env, prevLogIndex, prevLogTerm, entries, commit };
    }
    case TYPE.appendResponse: {
      const success = r.u8() === 1;
      const matchIndex = r.f64();
      const rejectIndex = unopt(r.f64());
      const hintTerm = unopt(r.f64());
      return {
        type: 'appendResponse',
        ...env,
        success,
        matchIndex,
        ...(rejectIndex !== undefined ? { rejectIndex } : {}),
        ...(hintTerm !== undefined ? { hintTerm } : {}),
      };
    }
    case TYPE.heartbeat: {
      const commit = r.f64();
      const context = unopt(r.f64());
      return { type: 'heartbeat', ...env, commit, ...(context !== undefined ? { context } : {}) };
    }
    case TYPE.heartbeatResponse: {
      const context = unopt(r.f64());
      return { type: 'heartbeatResponse', ...env, ...(context !== undefined ? { context } : {}) };
    }
    case TYPE.snapshot: {
      const index = r.f64();
      const t = r.f64();
      const voters = readIds(r);
      const learners = readIds(r);
      const data = Buffer.from(r.bytes());
      return { type: 'snapshot', ...env, snapshot: { index, term: t, config: { voters, learners }, data } };
    }
    case TYPE.readIndex:
      return { type: 'readIndex', ...env, requestId: r.str() };
    case TYPE.readIndexResponse:
      return { type: 'readIndexResponse', ...env, requestId: r.str(), index: r.f64() };
    case TYPE.timeoutNow:
      return { type: 'timeoutNow', ...env };
    default:
      throw new RangeError(`unknown raft message type ${tag}`);
  }
}

function messageSize(m: RaftMessage): number {
  if (m.type === 'snapshot') return 128 + m.snapshot.data.length + 8 * (m.snapshot.config.voters.length + m.snapshot.config.learners.length);
  if (m.type !== 'append') return 64;
  let n = 64;
  for (const e of m.entries) n += 24 + e.data.length;
  return n;
}

export function encodeMessages(messages: RaftMessage[]): Buffer {
  let size = 8;
  for (const m of messages) size += messageSize(m);
  const w = new ByteWriter(size);
  w.u32(messages.length);
  for (const m of messages) writeMessage(w, m);
  return w.finish();
}

export function decodeMessages(data: Uint8Array): RaftMessage[] {
  const r = new ByteReader(data);
  const out: RaftMessage[] = [];
  for (let n = r.u32(); n > 0; n--) out.push(readMessage(r));
  if (r.remaining !== 0) throw new RangeError(`${r.remaining} bytes left after the raft messages`);
  return out;
}

// ---- JSON with bytes ----

const BYTES = '$b64';

/** JSON text in which every Uint8Array becomes `{"$b64": "..."}`. */
export function toWireJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return { [BYTES]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    // Buffer#toJSON runs before the replacer sees it.
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return { [BYTES]: Buffer.from((v as { data: number[] }).data).toString('base64') };
    }
    return v;
  });
}

export function fromWireJson<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && typeof (v as Record<string, unknown>)[BYTES] === 'string' && Object.keys(v).length === 1) {
      return new Uint8Array(Buffer.from((v as Record<string, string>)[BYTES]!, 'base64'));
    }
    return v;
  }) as T;
}

/** A CapstanError as it crosses the wire: code, message and context only. */
export interface WireError {
  code: ErrorCode;
  message: string;
  context?: Record<string, unknown>;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof CapstanError) return { code: err.code, message: err.message, context: { ...err.context } };
  return { code: 'CAPSTAN_ERR_INTERNAL_ERROR', message: String((err as Error)?.message ?? err) };
}

export function fromWireError(e: WireError): CapstanError {
  return new CapstanError(e.code, e.message, { context: e.context ?? {} });
}
