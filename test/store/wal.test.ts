// Durability of the embedded store on disk: restart, lost unsynced writes, torn tails,
// corruption, a full disk, and snapshots that keep restarts bounded.
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { Wal } from '../../src/store/raft/wal.js';
import { crc32c } from '../../src/store/raft/crc32c.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { FaultFs, ManualClock } from './fixtures/fault-fs.js';

const text = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString() : undefined);

function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function segments(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('embedded store on disk', () => {
  let dir: string;
  const open: KV[] = [];
  const openStore = async (o: Parameters<typeof openEmbeddedStore>[0] = {}) => {
    const kv = await openEmbeddedStore({ dir, clock: new ManualClock(), ...o });
    open.push(kv);
    return kv;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'capstan-wal-'));
  });
  afterEach(async () => {
    for (const kv of open.splice(0)) await kv.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('comes back after a restart with the same data, revisions, history and leases', async () => {
    const a = await openStore();
    await a.put('/a', '1');
    const r2 = await a.put('/a', '2');
    await a.put('/b', 'b');
    await a.txn({ compare: [], success: [{ type: 'put', key: '/c', value: 'c' }, { type: 'delete', key: '/b' }], failure: [] });
    const lease = await a.grant(60);
    await a.put('/leased', 'x', { lease: lease.id });
    const rev = await a.revision();
    const before = await a.range('/');
    await a.close();

    const b = await openStore();
    expect(await b.revision()).toBe(rev);
    expect(await b.range('/')).toEqual(before);
    expect(text((await b.get('/a', { revision: r2.revision - 1 }))?.value)).toBe('1');
    const w = b.watch('/', { prefix: true, fromRevision: r2.revision });
    const it = w[Symbol.asyncIterator]();
    expect((await it.next()).value?.events[0]?.kv.key).toBe('/a');
    w.close();
    // The lease survived: revoking it deletes its key.
    await b.revoke(lease.id);
    expect(await b.get('/leased')).toBeUndefined();
    const r = await b.put('/after', 'restart');
    expect(r.revision).toBe(rev + 2);
  });

  it('gives leases a full TTL after a restart instead of expiring them at once', async () => {
    const a = await openStore({ clock: new ManualClock() });
    const lease = await a.grant(10);
    await a.put('/hb', 'alive', { lease: lease.id });
    await a.close();
    const clock = new ManualClock();
    clock.advance(60_000); // the store was down for longer than the TTL
    const b = await openStore({ clock });
    clock.advance(9_000);
    await new Promise((r) => setImmediate(r));
    expect(await b.get('/hb')).toBeDefined();
    await b.keepAlive(lease.id);
    clock.advance(11_000);
    // The expiry is written to disk first; wait for it (bounded).
    for (let i = 0; i < 200 && (await b.get('/hb')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await b.get('/hb')).toBeUndefined();
  });

  it('keeps every acknowledged write when unsynced bytes are lost', async () => {
    const fs = new FaultFs();
    const a = await openStore({ fs });
    for (let i = 0; i < 5; i++) await a.put(`/k${i}`, String(i));
    const acked = await a.revision();
    let release!: () => void;
    fs.holdSync = new Promise<void>((r) => (release = r));
    const inFlight = a.put('/lost', 'never acknowledged');
    inFlight.catch(() => undefined);
    while (fs.unsyncedBytes() === 0) await new Promise((r) => setTimeout(r, 5));
    fs.crash(); // power cut while the fsync is pending
    // Only so the old instance lets go of its files and lock; what it does after the cut
    // never reaches the disk.
    fs.noSpace = true;
    release();
    await a.close();

    const b = await openStore();
    expect(await b.revision()).toBe(acked);
    expect((await b.range('/k')).count).toBe(5);
    expect(await b.get('/lost')).toBeUndefined();
  });

  it('truncates a torn last record, logs it, and keeps going', async () => {
    const a = await openStore();
    await a.put('/x', '1');
    await a.put('/y', '2');
    const rev = await a.revision();
    await a.close();
    const seg = join(dir, (await segments(dir)).pop()!);
    const size = (await stat(seg)).size;
    // Half a record: a header promising 100 bytes, and only 6 of them.
    const torn = Buffer.alloc(15);
    torn.writeUInt32LE(100, 0);
    await appendFile(seg, torn);

    const { logger, lines } = memoryLogger();
    const b = await openStore({ logger });
    expect(await b.revision()).toBe(rev);
    expect(text((await b.get('/y'))?.value)).toBe('2');
    const warn = lines.find((l) => String(l.msg).includes('torn'));
    expect(warn).toMatchObject({ file: seg, offset: size });
    await b.put('/z', '3');
    await b.close();
    const c = await openStore();
    expect(text((await c.get('/z'))?.value)).toBe('3');
  });

  it('cuts a last record whose checksum fails', async () => {
    const a = await openStore();
    await a.put('/x', '1');
    await a.close();
    const seg = join(dir, (await segments(dir)).pop()!);
    const data = await readFile(seg);
    data[data.length - 1]! ^= 0xff;
    await writeFile(seg, data);
    const b = await openStore();
    expect(text((await b.get('/x'))?.value)).toBe('1');
  });

  it('refuses to start on a flipped bit in an earlier record, naming file and offset', async () => {
    const a = await openStore();
    for (let i = 0; i < 5; i++) await a.put(`/k${i}`, `value-${i}`);
    await a.close();
    const seg = join(dir, (await segments(dir))[0]!);
    const data = await readFile(seg);
    // The segment starts with a hard-state record (9 + 24 bytes), then the first entry.
    data[33 + 20]! ^= 0x04;
    await writeFile(seg, data);
    const err = await caught(openStore());
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(seg);
    expect((err as Error).message).toContain('byte 33');
    expect((err as { context: unknown }).context).toMatchObject({ file: seg, offset: 33 });
  });

  it('refuses writes with CAPSTAN_ERR_STORE_NO_SPACE on a full disk, keeps reads and loses nothing', async () => {
    const fs = new FaultFs();
    const a = await openStore({ fs });
    await a.put('/kept', 'yes');
    const rev = await a.revision();
    fs.noSpace = true;
    const err = await caught(a.put('/refused', 'no'));
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_NO_SPACE')).toBe(true);
    const errs = await Promise.all([1, 2, 3].map((i) => caught(a.put(`/refused${i}`, 'no'))));
    for (const e of errs) expect(isCapstanError(e, 'CAPSTAN_ERR_STORE_NO_SPACE')).toBe(true);
    expect(text((await a.get('/kept'))?.value)).toBe('yes');
    expect(await a.revision()).toBe(rev);
    fs.noSpace = false;
    const ok = await a.put('/later', 'space again');
    expect(ok.revision).toBe(rev + 1);
    await a.close();
    const b = await openStore();
    expect(await b.revision()).toBe(rev + 1);
    expect(await b.get('/refused')).toBeUndefined();
    expect(text((await b.get('/later'))?.value)).toBe('space again');
  });

  it('survives a full disk while starting a new segment', async () => {
    const fs = new FaultFs();
    const a = await openStore({ fs, segmentBytes: 1024 });
    for (let i = 0; i < 20; i++) await a.put(`/s/${i}`, 'x'.repeat(100));
    // Fill the current segment past its size so that the next write starts a new one.
    const lastSize = async () => (await stat(join(dir, (await segments(dir)).pop()!))).size;
    while ((await lastSize()) < 1024) await a.put('/fill', 'x'.repeat(100));
    const before = await segments(dir);
    fs.noSpace = true;
    const rev = await a.revision();
    const err = await caught(a.put('/refused', 'x'.repeat(900)));
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_NO_SPACE')).toBe(true);
    expect(await segments(dir)).toEqual(before); // the half-made segment is gone
    fs.noSpace = false;
    await a.put('/ok', 'y');
    await a.close();
    const b = await openStore();
    expect(await b.revision()).toBe(rev + 1);
    expect((await b.range('/s/')).count).toBe(20);
    expect(await b.get('/refused')).toBeUndefined();
  });

  it('snapshots and drops old segments, so a reopen after 10,000 writes replays only the tail', async () => {
    const a = await openStore({ snapshotEvery: 1000, segmentBytes: 32 * 1024 });
    for (let i = 0; i < 100; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => a.put(`/k/${i * 100 + j}`, `v${i * 100 + j}`)));
    }
    const rev = await a.revision();
    await a.close();
    const names = await readdir(dir);
    expect(names.filter((n) => n.endsWith('.snap'))).toHaveLength(1);
    const { wal, state } = await Wal.open({ dir });
    await wal.close();
    expect(state.snapshot!.index).toBeGreaterThanOrEqual(9000);
    expect(state.entries.length).toBeLessThanOrEqual(1100);
    if (state.entries.length) expect(state.entries[0]!.index).toBe(state.snapshot!.index + 1);

    const b = await openStore();
    expect(await b.revision()).toBe(rev);
    const all = await b.range('/k/', { keysOnly: true });
    expect(all.count).toBe(10_000);
    expect(text((await b.get('/k/9999'))?.value)).toBe('v9999');
  });

  it('refuses to start when the log no longer reaches back to its snapshot', async () => {
    const a = await openStore({ snapshotEvery: 10, segmentBytes: 512 });
    for (let i = 0; i < 40; i++) await a.put(`/k${i}`, 'v'.repeat(50));
    await a.close();
    for (const n of await readdir(dir)) if (n.endsWith('.snap')) await rm(join(dir, n));
    const err = await caught(openStore());
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toMatch(/missing entry 1 /);
  });

  it('refuses a snapshot whose checksum fails', async () => {
    const a = await openStore({ snapshotEvery: 10 });
    for (let i = 0; i < 20; i++) await a.put(`/k${i}`, 'v');
    await a.close();
    const snap = join(dir, (await readdir(dir)).find((n) => n.endsWith('.snap'))!);
    const data = await readFile(snap);
    data[data.length - 3]! ^= 1;
    await writeFile(snap, data);
    const err = await caught(openStore());
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(snap);
  });
});

describe('data folder lock', () => {
  it('refuses a second open of the same folder and allows it after close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-lock-'));
    try {
      const a = await openEmbeddedStore({ dir, clock: new ManualClock() });
      const err = await caught(openEmbeddedStore({ dir, clock: new ManualClock() }));
      expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toContain('already open');
      await a.close();
      const b = await openEmbeddedStore({ dir, clock: new ManualClock() });
      await b.close();
      // A lock left by a process that is gone is taken over.
      await writeFile(join(dir, 'LOCK'), '2147483646');
      const c = await openEmbeddedStore({ dir, clock: new ManualClock() });
      await c.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('123456789'), crc32c(Buffer.from('1234')), 4)).toBe(0xe3069283);
  });
});
