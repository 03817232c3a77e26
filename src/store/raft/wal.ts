// The write-ahead log: append-only segment files named by the first index they hold
// (`0000000000000001.wal`), each a run of framed records (wal-records.ts). Entries and the
// hard state of a batch go out in one write and one fsync. Snapshots of the state machine
// live beside them (`snap-<index>.snap`); once one is durable, segments wholly before it are
// deleted, so a restart replays a bounded tail.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CapstanError } from '../../common/index.js';
import { crc32c } from './crc32c.js';
import type { Entry, HardState } from './types.js';
import { nodeWalFs, type WalFile, type WalFs } from './wal-fs.js';
import { encodeRecords, parseRecords } from './wal-records.js';

const SEGMENT_RE = /^([0-9a-f]{16})\.wal$/;
const SNAP_RE = /^snap-([0-9a-f]{16})\.snap$/;
const SNAP_MAGIC = 0x43535331; // "CSS1"
const SNAP_HEADER = 24; // magic, crc, index f64, term f64 (crc covers index onwards)

export interface WalOptions {
  dir: string;
  fs?: WalFs;
  logger?: Logger;
  /** Start a new segment once the current one reaches this size (default 64 MiB). */
  segmentBytes?: number;
  /** Called with each fsync's duration in seconds. */
  onSync?: (seconds: number) => void;
}

export interface WalSnapshot {
  index: number;
  term: number;
  data: Uint8Array;
}

/** What a restart finds on disk. */
export interface WalState {
  snapshot?: WalSnapshot;
  hardState?: HardState;
  /** Entries after the snapshot, in index order. */
  entries: Entry[];
}

interface Segment {
  name: string;
  first: number;
}

const hex = (n: number) => n.toString(16).padStart(16, '0');

function noSpaceOr(err: unknown, what: string, context: Record<string, unknown>): CapstanError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CapstanError('CAPSTAN_ERR_STORE_NO_SPACE', `the disk is full: ${what} failed; writes are refused until space is freed`, {
      cause: err,
      context,
    });
  }
  return new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `${what} failed: ${String((err as Error)?.message ?? err)}`, { cause: err, context });
}

export class Wal {
  private readonly dir: string;
  private readonly fs: WalFs;
  private readonly logger: Logger | undefined;
  private readonly segmentBytes: number;
  private readonly onSync: ((s: number) => void) | undefined;
  private segments: Segment[] = [];
  private file: WalFile | undefined;
  private fileSize = 0;
  private lastIndex = 0;
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  /** Set when a failed write could not be undone: the log's tail is unknown. */
  private broken: CapstanError | undefined;

  private constructor(o: WalOptions) {
    this.dir = o.dir;
    this.fs = o.fs ?? nodeWalFs;
    this.logger = o.logger;
    this.segmentBytes = o.segmentBytes ?? 64 * 1024 * 1024;
    this.onSync = o.onSync;
  }

  /** Opens (or creates) the log in `dir` and reads back what it holds. */
  static async open(o: WalOptions): Promise<{ wal: Wal; state: WalState }> {
    const wal = new Wal(o);
    const state = await wal.load();
    return { wal, state };
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  private async load(): Promise<WalState> {
    await this.fs.mkdirp(this.dir);
    const names = await this.fs.readdir(this.dir);
    for (const n of names) if (n.endsWith('.tmp')) await this.fs.unlink(this.path(n)); // half-written snapshots
    const snapshot = await this.loadSnapshot(names.filter((n) => SNAP_RE.test(n)).sort());
    this.segments = names
      .filter((n) => SEGMENT_RE.test(n))
      .sort()
      .map((name) => ({ name, first: parseInt(SEGMENT_RE.exec(name)![1]!, 16) }));
    const entries: Entry[] = [];
    let hardState: HardState | undefined;
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      const data = Buffer.from(await this.fs.readFile(this.path(seg.name)));
      const end = parseRecords(data, (r) => {
        if (r.type === 'hardState') {
          hardState = r.hardState;
          return;
        }
        const e = r.entry;
        // A rewritten index replaces the old suffix (a follower's log after a conflict).
        while (entries.length && entries[entries.length - 1]!.index >= e.index) entries.pop();
        entries.push(e);
      });
      const isLast = i === this.segments.length - 1;
      if (end.kind === 'corrupt' || (end.kind === 'torn' && !isLast)) {
        throw new CapstanError(
          'CAPSTAN_ERR_STORE_CORRUPT',
          `the write-ahead log is corrupt in ${this.path(seg.name)} at byte ${end.offset}: ${end.reason}; refusing to start`,
          { context: { file: this.path(seg.name), offset: end.offset, reason: end.reason } },
        );
      }
      if (end.kind === 'torn') {
        this.logger?.warn({ file: this.path(seg.name), offset: end.offset, reason: end.reason }, 'truncating a torn write at the end of the write-ahead log');
        await this.fs.truncate(this.path(seg.name), end.offset);
        this.fileSize = end.offset;
      } else if (isLast) this.fileSize = data.length;
    }
    const after = snapshot ? entries.filter((e) => e.index > snapshot.index) : entries;
    // The log must continue the snapshot (or start at 1) without holes.
    let expect = (snapshot?.index ?? 0) + 1;
    for (const e of after) {
      if (e.index !== expect) {
        throw new CapstanError('CAPSTAN_ERR_STORE_CORRUPT', `the write-ahead log in ${this.dir} is missing entry ${expect} (found ${e.index})`, {
          context: { dir: this.dir, snapshot: snapshot?.index ?? 0, expected: expect, found: e.index },
        });
      }
      expect++;
    }
    this.lastIndex = after.length ? after[after.length - 1]!.index : (snapshot?.index ?? 0);
    if (hardState) this.hardState = hardState;
    if (this.segments.length === 0) await this.startSegment(this.lastIndex + 1);
    else this.file = await this.fs.openAppend(this.path(this.segments[this.segments.length - 1]!.name));
    const state: WalState = { entries: after };
    if (snapshot) state.snapshot = snapshot;
    if (hardState) state.hardState = hardState;
    return state;
  }

  private async loadSnapshot(names: string[]): Promise<WalSnapshot | undefined> {
    const name = names[names.length - 1];
    if (!name) return undefined;
    const file = this.path(name);
    const data = Buffer.from(await this.fs.readFile(file));
    if (data.length < SNAP_HEADER || data.readUInt32LE(0) !== SNAP_MAGIC || crc32c(data, 0, 8) !== data.readUInt32LE(4)) {
      throw new CapstanError('CAPSTAN_ERR_STORE_CORRUPT', `the snapshot ${file} is corrupt (checksum mismatch); refusing to start`, {
        context: { file, offset: 0 },
      });
    }
    return { index: data.readDoubleLE(8), term: data.readDoubleLE(16), data: data.subarray(SNAP_HEADER) };
  }

  /**
   * Starts a segment whose first entry will be `first`, carrying the current hard state. On
   * failure the new file is removed and the current segment stays in use.
   */
  private async startSegment(first: number): Promise<void> {
    const name = `${hex(first)}.wal`;
    const path = this.path(name);
    const head = encodeRecords([], this.hardState);
    let f: WalFile | undefined;
    try {
      f = await this.fs.openAppend(path);
      await f.append(head);
      await f.sync();
      await this.fs.syncDir(this.dir);
    } catch (err) {
      await f?.close().catch(() => undefined);
      await this.fs.unlink(path).catch(() => undefined);
      throw err;
    }
    const old = this.file;
    this.file = f;
    this.segments.push({ name, first });
    this.fileSize = head.length;
    await old?.close();
  }

  /**
   * Appends entries (replacing any from entries[0].index on) and the hard state in one write,
   * then fsyncs. On failure the segment is cut back to where it was, so nothing half-written
   * stays, and the error says whether the disk is full.
   */
  async append(entries: Entry[], hardState: HardState): Promise<void> {
    if (this.broken) throw this.broken;
    if (entries.length && this.fileSize >= this.segmentBytes) {
      try {
        await this.startSegment(entries[0]!.index);
      } catch (err) {
        throw noSpaceOr(err, 'starting a WAL segment', { dir: this.dir });
      }
    }
    const buf = encodeRecords(entries, hardState);
    const seg = this.segments[this.segments.length - 1]!;
    const before = this.fileSize;
    try {
      await this.file!.append(buf);
      const t0 = process.hrtime.bigint();
      await this.file!.sync();
      this.onSync?.(Number(process.hrtime.bigint() - t0) / 1e9);
    } catch (err) {
      const failure = noSpaceOr(err, 'writing the WAL', { file: this.path(seg.name), offset: before });
      try {
        await this.fs.truncate(this.path(seg.name), before);
      } catch (cutErr) {
        this.broken = new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', 'the WAL could not be restored after a failed write; restart the store', {
          cause: cutErr,
          context: { file: this.path(seg.name) },
        });
      }
      throw failure;
    }
    this.fileSize += buf.length;
    this.hardState = { ...hardState };
    if (entries.length) this.lastIndex = entries[entries.length - 1]!.index;
  }

  /**
   * Writes a snapshot at `index`: temp file, fsync, rename, fsync the folder. Touches only its
   * own files, so it may run while entries are appended.
   */
  async writeSnapshot(index: number, term: number, data: Uint8Array): Promise<void> {
    if (this.broken) throw this.broken;
    const name = `snap-${hex(index)}.snap`;
    const tmp = this.path(`${name}.tmp`);
    const head = Buffer.allocUnsafe(SNAP_HEADER);
    head.writeUInt32LE(SNAP_MAGIC, 0);
    head.writeDoubleLE(index, 8);
    head.writeDoubleLE(term, 16);
    const crc = crc32c(data, crc32c(head, 0, 8, SNAP_HEADER));
    head.writeUInt32LE(crc, 4);
    try {
      const f = await this.fs.openAppend(tmp);
      try {
        await f.append(head);
        await f.append(data);
        await f.sync();
      } finally {
        await f.close();
      }
      await this.fs.rename(tmp, this.path(name));
      await this.fs.syncDir(this.dir);
    } catch (err) {
      await this.fs.unlink(tmp).catch(() => undefined);
      throw noSpaceOr(err, 'writing a snapshot', { file: tmp });
    }
  }

  /**
   * Once a snapshot at `index` is durable: starts a fresh segment and deletes the segments and
   * older snapshots it makes unnecessary. Must not run concurrently with `append`.
   */
  async releaseBefore(index: number): Promise<void> {
    if (this.fileSize > 0 && this.lastIndex >= this.segments[this.segments.length - 1]!.first) {
      await this.startSegment(this.lastIndex + 1).catch((err: unknown) => {
        this.logger?.warn({ err }, 'could not start a new WAL segment after a snapshot');
      });
    }
    // A segment is obsolete when the next one starts at or before index + 1.
    const keep: Segment[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const next = this.segments[i + 1];
      if (next && next.first <= index + 1) await this.fs.unlink(this.path(this.segments[i]!.name));
      else keep.push(this.segments[i]!);
    }
    this.segments = keep;
    const name = `snap-${hex(index)}.snap`;
    for (const n of await this.fs.readdir(this.dir)) {
      if (SNAP_RE.test(n) && n < name) await this.fs.unlink(this.path(n));
    }
    await this.fs.syncDir(this.dir);
  }

  /** Both steps of a snapshot, one after the other. */
  async saveSnapshot(index: number, term: number, data: Uint8Array): Promise<void> {
    await this.writeSnapshot(index, term, data);
    await this.releaseBefore(index);
  }

  /** Segment files currently on disk, oldest first (for tests and metrics). */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    if (f) await f.close();
  }
}
