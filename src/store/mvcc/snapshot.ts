// MVCC snapshots: the whole state (key histories since the compaction point, leases and
// counters) as bytes, and back. Event batches are rebuilt from the key histories, so
// watch replay works the same after a restart.
import { CapstanError } from '../../common/index.js';
import type { KeyValue, WatchBatch, WatchEvent } from '../types.js';
import { ByteReader, ByteWriter, ownBytes } from './bytes.js';
import { MvccState, type HistoryEntry } from './state.js';

const MAGIC = 0x4353_4d31; // "CSM1"

export function encodeSnapshot(s: MvccState): Buffer {
  const w = new ByteWriter(1024 + s.liveBytes * 2);
  w.u32(MAGIC).f64(s.revision).f64(s.compactRevision).f64(s.nextLeaseId);
  w.u32(s.leases.size);
  for (const l of s.leases.values()) w.f64(l.id).f64(l.ttlSeconds).f64(l.expiresAt);
  w.u32(s.histories.size);
  for (const key of s.index.all()) {
    const h = s.histories.get(key)!;
    w.str(key).u32(h.length);
    for (const e of h) {
      w.f64(e.rev).u32(e.sub).u8(e.deleted ? 1 : 0);
      if (!e.deleted) w.f64(e.kv.createRevision).f64(e.kv.version).f64(e.kv.lease).bytes(e.kv.value);
    }
  }
  return w.finish();
}

export function decodeSnapshot(data: Uint8Array): MvccState {
  try {
    return decode(data);
  } catch (err) {
    if (err instanceof CapstanError) throw err;
    throw new CapstanError('CAPSTAN_ERR_STORE_CORRUPT', 'the MVCC snapshot could not be decoded', { cause: err });
  }
}

function decode(data: Uint8Array): MvccState {
  // Values are copied out one by one (ownBytes), so the state never pins the read buffer.
  const r = new ByteReader(data);
  if (r.u32() !== MAGIC) throw new CapstanError('CAPSTAN_ERR_STORE_CORRUPT', 'the MVCC snapshot has an unknown format');
  const s = new MvccState();
  s.revision = r.f64();
  s.compactRevision = r.f64();
  s.nextLeaseId = r.f64();
  for (let n = r.u32(); n > 0; n--) {
    const id = r.f64();
    s.leases.set(id, { id, ttlSeconds: r.f64(), expiresAt: r.f64(), keys: new Set() });
  }
  const events: Array<{ rev: number; sub: number; ev: WatchEvent }> = [];
  const empty = new Uint8Array(0);
  for (let n = r.u32(); n > 0; n--) {
    const key = r.str();
    const h: HistoryEntry[] = [];
    let prev: KeyValue | undefined;
    for (let m = r.u32(); m > 0; m--) {
      const rev = r.f64();
      const sub = r.u32();
      const deleted = r.u8() === 1;
      let kv: KeyValue;
      if (deleted) kv = { key, value: empty, createRevision: 0, modRevision: rev, version: 0, lease: 0 };
      else {
        const createRevision = r.f64();
        const version = r.f64();
        const lease = r.f64();
        kv = { key, value: ownBytes(r.bytes()), createRevision, modRevision: rev, version, lease };
      }
      h.push({ rev, sub, kv, deleted });
      if (rev >= s.compactRevision) {
        const ev: WatchEvent = { type: deleted ? 'delete' : 'put', kv };
        if (prev) ev.prevKv = prev;
        events.push({ rev, sub, ev });
      }
      prev = deleted ? undefined : kv;
    }
    s.histories.set(key, h);
    s.index.insert(key);
    const last = h[h.length - 1];
    if (last && !last.deleted) {
      s.liveKeys++;
      s.liveBytes += Buffer.byteLength(key) + last.kv.value.length;
      if (last.kv.lease) s.leases.get(last.kv.lease)?.keys.add(key);
    }
  }
  events.sort((a, b) => a.rev - b.rev || a.sub - b.sub);
  const history: WatchBatch[] = [];
  for (const e of events) {
    const tail = history[history.length - 1];
    if (tail && tail.revision === e.rev) tail.events.push(e.ev);
    else history.push({ revision: e.rev, events: [e.ev] });
  }
  s.history = history;
  return s;
}
