// A read-only Git object reader for the snapshot hot path. isomorphic-git's public API stats
// the gitdir, probes the file system and lists objects/pack on every single object, which
// dominates reading thousands of small blobs; this reads loose objects and pack files (index
// v2, ofs/ref deltas) directly with native zlib. Anything it cannot read (alternates, odd
// pack versions) falls back to isomorphic-git.
//
// Every read is bounded before it inflates: a pack entry's header carries the object's size
// (a delta's own header the size of its result), a loose object's header is the first bytes
// of its stream. An object over the caller's cap is refused from that size, and bodies are
// inflated with a hard output cap, so a header that lies cannot blow memory either. Pack files
// are read through a few aligned windows of 1 MiB (positional reads, at most 16 MiB held per
// pack), never whole: the entries of one commit sit close together, so thousands of small
// blobs cost a handful of reads instead of several per object.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as zc, inflateSync } from 'node:zlib';
import * as nodeFs from 'node:fs';
import git from 'isomorphic-git';
import { CapstanError } from '../common/index.js';
import { isMissing, resourceError } from './resource.js';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';
export interface GitObject {
  type: ObjectType;
  content: Buffer;
}
export interface ObjectHeader {
  type: ObjectType;
  /** Inflated size in bytes. */
  size: number;
}
export interface RawTreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'tree' | 'blob' | 'commit';
}

/** The file system calls the reader makes (tests inject failures here). */
export type ObjectFs = Pick<typeof fsp, 'readFile' | 'readdir' | 'open'>;

const TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Largest tree, commit or tag read (blobs are capped by the caller, e.g. maxFileBytes). */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
/** Resolved delta bases and trees kept in memory per pack: chains share bases. */
const BASE_CACHE_BYTES = 32 * 1024 * 1024;
/** Bytes read at an entry's offset for its header (type/size varint, then ofs varint or base id). */
const ENTRY_HEAD_BYTES = 32;
/** Pack bytes read at once, at offsets that are multiples of it. */
const WINDOW_BYTES = 1024 * 1024;
/**
 * A delta whose compressed data is at most this long is inflated whole when its header is read
 * (one inflate instead of a prefix now and the whole at the read), with its output capped at
 * SMALL_DELTA_OUT; a bigger one has only its first bytes inflated for the header.
 */
const SMALL_DELTA_IN = 4096;
const SMALL_DELTA_OUT = 64 * 1024;
/** Inflated small deltas kept per pack between their header read and their read. */
const DELTA_CACHE_BYTES = 8 * 1024 * 1024;
/** Windows kept per pack (the oldest read is dropped first). */
const MAX_WINDOWS = 16;

/**
 * Pack files stay open while their reader is in use. A reader has no close call (a snapshot's
 * reader lives as long as its source), so a pack's handle is closed once the pack itself is
 * collected, instead of Node closing it on collection with a warning on stderr.
 */
const openPacks = new FinalizationRegistry<Promise<FileHandle>>((fh) => {
  void fh.then((h) => h.close()).catch(() => undefined);
});

interface Pack {
  idxPath: string;
  packPath: string;
  offsets: Map<string, number>;
  /** Entry offset → offset just past its compressed data. */
  ends: Map<number, number>;
  fh?: Promise<FileHandle>;
  bases: Map<number, GitObject>;
  baseBytes: number;
  /** Entry offset → the type and inflated size its header chain states (a snapshot reads every blob's header, then the blob). */
  headers: Map<number, ObjectHeader>;
  /** Entry offset → a small delta inflated whole by a header read, taken by the read that follows. */
  deltas: Map<number, Buffer>;
  deltaBytes: number;
  /** Window start → its bytes (shorter at the end of the file). */
  windows: Map<number, Promise<Buffer>>;
}

interface EntryHead {
  kind: number;
  /** The inflated size the entry header states (for a delta: the delta's own size). */
  size: number;
  /** Where the zlib stream starts and ends in the pack. */
  dataAt: number;
  end: number;
  /** OFS_DELTA: the base's offset; REF_DELTA: the base's id. */
  baseOffset?: number;
  baseOid?: string;
}

/** CAPSTAN_ERR_SOURCE_TOO_LARGE for an object over a cap; `context.size` is what it would inflate to. */
export function objectTooLarge(oid: string, size: number, limit: number, what = 'object'): CapstanError {
  return new CapstanError('CAPSTAN_ERR_SOURCE_TOO_LARGE', `Git ${what} ${oid.slice(0, 12)} is ${size} bytes, over the limit of ${limit} bytes; it was not read`, {
    context: { oid, size, limit },
  });
}

export class ObjectReader {
  private packs?: Promise<Pack[]>;

  constructor(
    readonly gitdir: string,
    private readonly isoCache: object,
    private readonly fs: ObjectFs = fsp,
  ) {}

  /** An object, refused with CAPSTAN_ERR_SOURCE_TOO_LARGE when it would inflate to more than `maxBytes`. */
  async read(oid: string, maxBytes = MAX_OBJECT_BYTES): Promise<GitObject> {
    const found = await this.locate(oid);
    if (found?.pack) return this.readPacked(found.pack, found.offset, maxBytes, oid);
    if (found?.loose) return this.readLoose(oid, found.loose, maxBytes);
    // Not found here: let isomorphic-git look (and throw its NotFoundError if it is missing).
    // It inflates whole, so its result is checked after the fact.
    const obj = await git.readObject({ fs: nodeFs, gitdir: this.gitdir, oid, format: 'content', cache: this.isoCache });
    const content = Buffer.from(obj.object as Uint8Array);
    if (content.length > maxBytes) throw objectTooLarge(oid, content.length, maxBytes);
    return { type: obj.type as ObjectType, content };
  }

  /** Type and inflated size of an object, read from its header without inflating its body. */
  async header(oid: string): Promise<ObjectHeader> {
    const found = await this.locate(oid);
    if (found?.pack) return this.packedHeader(found.pack, found.offset);
    if (found?.loose) return (await this.looseHeader(found.loose)).header;
    const obj = await git.readObject({ fs: nodeFs, gitdir: this.gitdir, oid, format: 'content', cache: this.isoCache });
    return { type: obj.type as ObjectType, size: (obj.object as Uint8Array).byteLength };
  }

  async readTree(oid: string): Promise<RawTreeEntry[]> {
    const obj = await this.read(oid);
    if (obj.type === 'commit') return this.readTree(commitTree(obj.content));
    if (obj.type !== 'tree') throw new Error(`object ${oid} is a ${obj.type}, not a tree`);
    return parseTree(obj.content);
  }

  async readBlob(oid: string, maxBytes = MAX_OBJECT_BYTES): Promise<Uint8Array> {
    const obj = await this.read(oid, maxBytes);
    if (obj.type !== 'blob') throw new Error(`object ${oid} is a ${obj.type}, not a blob`);
    // A blob is kept for as long as its commit is current: a view into a larger buffer (a
    // delta result from the shared pool) is copied to its exact size, an exact buffer is not.
    const c = obj.content;
    return c.byteOffset === 0 && c.buffer.byteLength === c.length ? c : new Uint8Array(c);
  }

  async readCommit(oid: string): Promise<{ tree: string; parents: string[]; author: string; summary: string }> {
    const obj = await this.read(oid);
    if (obj.type !== 'commit') throw new Error(`object ${oid} is a ${obj.type}, not a commit`);
    const split = obj.content.indexOf('\n\n');
    const head = obj.content.subarray(0, Math.max(0, split)).toString('utf8');
    const parents: string[] = [];
    let author = '';
    for (const line of head.split('\n')) {
      if (line.startsWith('parent ')) parents.push(line.slice(7, 47));
      // "author Name <email> 1700000000 +0000": the name and address, without the time.
      else if (line.startsWith('author ')) author = line.slice(7).replace(/\s+\d+\s+[+-]\d{4}$/, '');
    }
    const body = split < 0 ? '' : obj.content.subarray(split + 2, split + 2 + 4096).toString('utf8');
    const summary = body.split('\n', 1)[0]!.trim();
    return { tree: commitTree(obj.content), parents, author, summary };
  }

  /** Where an object is: packs first, like Git (a failed open per object would cost more). */
  private async locate(oid: string): Promise<{ pack?: Pack; offset: number; loose?: string } | undefined> {
    const inPack = async (refresh: boolean) => {
      for (const pack of await this.loadPacks(refresh)) {
        const offset = pack.offsets.get(oid);
        if (offset !== undefined) return { pack, offset };
      }
      return undefined;
    };
    const packed = await inPack(false);
    if (packed) return packed;
    const loose = join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2));
    const fh = await this.fs.open(loose, 'r').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw resourceError(err, `reading Git object ${oid.slice(0, 12)} in ${this.gitdir}`);
    });
    if (fh) {
      await fh.close();
      return { offset: 0, loose };
    }
    return inPack(true);
  }

  private async looseHeader(path: string): Promise<{ header: ObjectHeader; headerLength: number; fileSize: number }> {
    const fh = await this.fs.open(path, 'r').catch((err: unknown) => {
      throw resourceError(err, `reading ${path}`);
    });
    try {
      const fileSize = (await fh.stat()).size;
      // "blob 1234\0" sits in the first bytes of the stream; inflate only a prefix of the file.
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(Math.min(fileSize, 512)), 0, Math.min(fileSize, 512), 0);
      const head = inflatePrefix(buffer.subarray(0, bytesRead), 64);
      const nul = head.indexOf(0);
      const [type, size] = head.subarray(0, Math.max(0, nul)).toString('latin1').split(' ');
      if (nul < 0 || !TYPES_BY_NAME.has(type as ObjectType) || !/^\d+$/.test(size ?? '')) throw new Error(`${path} is not a Git object`);
      return { header: { type: type as ObjectType, size: Number(size) }, headerLength: nul + 1, fileSize };
    } finally {
      await fh.close();
    }
  }

  private async readLoose(oid: string, path: string, maxBytes: number): Promise<GitObject> {
    const { header, headerLength } = await this.looseHeader(path);
    if (header.size > maxBytes) throw objectTooLarge(oid, header.size, maxBytes, header.type);
    const raw = await this.fs.readFile(path).catch((err: unknown) => {
      throw resourceError(err, `reading ${path}`);
    });
    const out = inflateCapped(raw, headerLength + header.size, oid);
    return { type: header.type, content: out.subarray(headerLength) };
  }

  /** Pack indexes are listed once and again only when an object is not found (a new fetch). */
  private loadPacks(refresh: boolean): Promise<Pack[]> {
    if (!this.packs || refresh) {
      const previous = this.packs;
      this.packs = (async () => {
        const known = previous ? await previous.catch(() => []) : [];
        const dir = join(this.gitdir, 'objects', 'pack');
        const names = (
          await this.fs.readdir(dir).catch((err: unknown) => {
            if (isMissing(err)) return [] as string[];
            throw resourceError(err, `listing ${dir}`);
          })
        ).filter((n) => n.endsWith('.idx'));
        const keep: Pack[] = [];
        for (const p of known) {
          if (names.includes(p.idxPath.slice(dir.length + 1))) keep.push(p);
          else void p.fh?.then((fh) => fh.close()).catch(() => undefined); // gone (repacked)
        }
        for (const name of names) {
          if (keep.some((p) => p.idxPath.endsWith(`/${name}`))) continue;
          const idxPath = join(dir, name);
          const packPath = idxPath.replace(/\.idx$/, '.pack');
          const idx = await this.fs.readFile(idxPath).catch((err: unknown) => {
            if (isMissing(err)) return undefined;
            throw resourceError(err, `reading ${idxPath}`);
          });
          const offsets = idx ? parseIdxV2(idx) : undefined;
          if (!offsets) continue;
          const packSize = await this.fs
            .open(packPath, 'r')
            .then(async (fh) => {
              try {
                return (await fh.stat()).size;
              } finally {
                await fh.close();
              }
            })
            .catch((err: unknown) => {
              if (isMissing(err)) return undefined;
              throw resourceError(err, `opening ${packPath}`);
            });
          if (packSize === undefined) continue;
          keep.push({ idxPath, packPath, offsets, ends: entryEnds(offsets, packSize), bases: new Map(), baseBytes: 0, headers: new Map(), deltas: new Map(), deltaBytes: 0, windows: new Map() });
        }
        return keep;
      })();
    }
    return this.packs;
  }

  /** `length` bytes at `at` (fewer at the end of the file), from the pack's windows when it fits in them. */
  private async pread(pack: Pack, at: number, length: number): Promise<Buffer> {
    const first = Math.floor(at / WINDOW_BYTES) * WINDOW_BYTES;
    const last = Math.floor((at + Math.max(0, length - 1)) / WINDOW_BYTES) * WINDOW_BYTES;
    if (length > WINDOW_BYTES) return this.readAt(pack, at, length);
    if (first === last) {
      const w = await this.window(pack, first);
      return w.subarray(at - first, at - first + length);
    }
    // Straddles two windows: one copy of a small range.
    const [a, b] = await Promise.all([this.window(pack, first), this.window(pack, last)]);
    return Buffer.concat([a.subarray(at - first), b.subarray(0, at + length - last)]);
  }

  private window(pack: Pack, start: number): Promise<Buffer> {
    const hit = pack.windows.get(start);
    if (hit) return hit;
    while (pack.windows.size >= MAX_WINDOWS) pack.windows.delete(pack.windows.keys().next().value as number);
    const read = this.readAt(pack, start, WINDOW_BYTES);
    // A failed read is not kept: the next call tries again.
    read.catch(() => {
      if (pack.windows.get(start) === read) pack.windows.delete(start);
    });
    pack.windows.set(start, read);
    return read;
  }

  private async readAt(pack: Pack, at: number, length: number): Promise<Buffer> {
    if (!pack.fh) {
      pack.fh = this.fs.open(pack.packPath, 'r');
      openPacks.register(pack, pack.fh);
    }
    let fh: FileHandle;
    try {
      fh = await pack.fh;
    } catch (err) {
      pack.fh = undefined;
      throw resourceError(err, `opening ${pack.packPath}`);
    }
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, at + got).catch((err: unknown) => {
        throw resourceError(err, `reading ${pack.packPath}`);
      });
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  }

  private async entryHead(pack: Pack, offset: number): Promise<EntryHead> {
    const end = pack.ends.get(offset);
    if (end === undefined) throw new Error(`no entry at offset ${offset} of ${pack.packPath}`);
    const buf = await this.pread(pack, offset, Math.min(ENTRY_HEAD_BYTES, end - offset));
    let p = 0;
    let c = buf[p++]!;
    const kind = (c >> 4) & 7;
    let size = c & 0x0f;
    for (let shift = 4; c & 0x80; shift += 7) {
      c = buf[p++]!;
      size += (c & 0x7f) * 2 ** shift;
    }
    const head: EntryHead = { kind, size, dataAt: offset, end };
    if (kind === OFS_DELTA) {
      c = buf[p++]!;
      let back = c & 0x7f;
      while (c & 0x80) {
        c = buf[p++]!;
        back = (back + 1) * 128 + (c & 0x7f);
      }
      head.baseOffset = offset - back;
    } else if (kind === REF_DELTA) {
      head.baseOid = buf.subarray(p, p + 20).toString('hex');
      p += 20;
    } else if (!TYPES[kind]) {
      throw new Error(`unknown object type ${kind} in ${pack.packPath}`);
    }
    head.dataAt = offset + p;
    return head;
  }

  /** A delta's base and result sizes, from the first inflated bytes of the delta. */
  private async deltaSizes(pack: Pack, offset: number, head: EntryHead): Promise<{ baseSize: number; resultSize: number }> {
    const compressed = head.end - head.dataAt;
    if (compressed <= SMALL_DELTA_IN) {
      const whole = inflateSmall(await this.pread(pack, head.dataAt, compressed), SMALL_DELTA_OUT);
      if (whole) {
        const { baseSize, resultSize } = deltaHeader(whole);
        this.keepDelta(pack, offset, whole);
        return { baseSize, resultSize };
      }
    }
    const prefix = await this.pread(pack, head.dataAt, Math.min(512, head.end - head.dataAt));
    const { baseSize, resultSize } = deltaHeader(inflatePrefix(prefix, 20));
    return { baseSize, resultSize };
  }

  private async packedHeader(pack: Pack, offset: number): Promise<ObjectHeader> {
    const known = pack.headers.get(offset);
    if (known) return known;
    const head = await this.entryHead(pack, offset);
    let header: ObjectHeader;
    if (head.kind !== OFS_DELTA && head.kind !== REF_DELTA) header = { type: TYPES[head.kind]!, size: head.size };
    else {
      const { resultSize } = await this.deltaSizes(pack, offset, head);
      const base = head.baseOffset !== undefined ? await this.packedHeader(pack, head.baseOffset) : await this.header(head.baseOid!);
      header = { type: base.type, size: resultSize };
    }
    pack.headers.set(offset, header);
    return header;
  }

  private async readPacked(pack: Pack, offset: number, maxBytes: number, oid: string): Promise<GitObject> {
    const cached = pack.bases.get(offset);
    if (cached) {
      this.takeDelta(pack, offset);
      if (cached.content.length > maxBytes) throw objectTooLarge(oid, cached.content.length, maxBytes, cached.type);
      return cached;
    }
    const head = await this.entryHead(pack, offset);
    let obj: GitObject;
    if (head.kind === OFS_DELTA || head.kind === REF_DELTA) {
      // The size a header read of this entry found, else the delta's own first bytes.
      const resultSize = pack.headers.get(offset)?.size ?? (await this.deltaSizes(pack, offset, head)).resultSize;
      if (resultSize > maxBytes) throw objectTooLarge(oid, resultSize, maxBytes);
      // The base is bounded by the same cap: reading a small result off a huge base costs the base.
      const base =
        head.baseOffset !== undefined
          ? await this.readPacked(pack, head.baseOffset, maxBytes, oid)
          : await this.read(head.baseOid!, maxBytes);
      // A delta is at most two bytes per result byte (one-byte inserts) plus its header.
      const cap = 2 * resultSize + 64;
      const kept = this.takeDelta(pack, offset);
      if (kept && kept.length > cap) throw overHeaderSize(oid, cap);
      const delta = kept ?? inflateCapped(await this.pread(pack, head.dataAt, head.end - head.dataAt), cap, oid);
      obj = { type: base.type, content: applyDelta(base.content, delta) };
    } else {
      const type = TYPES[head.kind]!;
      if (head.size > maxBytes) throw objectTooLarge(oid, head.size, maxBytes, type);
      obj = { type, content: inflateCapped(await this.pread(pack, head.dataAt, head.end - head.dataAt), head.size, oid) };
      if (obj.content.length !== head.size) throw new Error(`object ${oid} in ${pack.packPath} is not the size its header states`);
    }
    // Only trees and bases of chains are worth keeping; blobs are read once.
    if (obj.type !== 'blob' || head.kind >= OFS_DELTA) this.keepBase(pack, offset, obj);
    return obj;
  }

  private keepDelta(pack: Pack, offset: number, delta: Buffer): void {
    if (pack.deltas.has(offset)) return;
    while (pack.deltaBytes + delta.length > DELTA_CACHE_BYTES && pack.deltas.size > 0) {
      const [first, old] = pack.deltas.entries().next().value as [number, Buffer];
      pack.deltas.delete(first);
      pack.deltaBytes -= old.length;
    }
    pack.deltas.set(offset, delta);
    pack.deltaBytes += delta.length;
  }

  private takeDelta(pack: Pack, offset: number): Buffer | undefined {
    const delta = pack.deltas.get(offset);
    if (delta) {
      pack.deltas.delete(offset);
      pack.deltaBytes -= delta.length;
    }
    return delta;
  }

  private keepBase(pack: Pack, offset: number, obj: GitObject): void {
    if (obj.content.length > BASE_CACHE_BYTES / 4) return;
    while (pack.baseBytes + obj.content.length > BASE_CACHE_BYTES && pack.bases.size > 0) {
      const [first, old] = pack.bases.entries().next().value as [number, GitObject];
      pack.bases.delete(first);
      pack.baseBytes -= old.content.length;
    }
    pack.bases.set(offset, obj);
    pack.baseBytes += obj.content.length;
  }
}

const TYPES_BY_NAME = new Set(Object.values(TYPES));

/**
 * The first `want` bytes (or fewer, if the stream is shorter) of a zlib stream, from a prefix
 * of it. Output is bounded by the input given (deflate expands at most ~1032×), never the whole.
 */
function inflatePrefix(prefix: Buffer, want: number): Buffer {
  try {
    return inflateSync(prefix, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: Math.max(want, prefix.length * 1100) }).subarray(0, want);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return Buffer.alloc(0);
    throw err;
  }
}

/** A whole small zlib stream, or undefined when it inflates to more than `cap` or is not one complete stream. */
function inflateSmall(data: Buffer, cap: number): Buffer | undefined {
  try {
    return inflateSync(data, { maxOutputLength: cap });
  } catch {
    return undefined;
  }
}

function overHeaderSize(oid: string, cap: number): CapstanError {
  return new CapstanError('CAPSTAN_ERR_SOURCE_TOO_LARGE', `Git object ${oid.slice(0, 12)} inflates to more than its header states (${cap} bytes); it was not read`, {
    context: { oid, limit: cap },
  });
}

/** Inflate with a hard cap on the output: a stream that inflates to more is refused, not buffered. */
function inflateCapped(data: Buffer, cap: number, oid: string): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: Math.max(1, cap), chunkSize: Math.max(64, Math.min(cap, 1024 * 1024)) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw overHeaderSize(oid, cap);
    throw resourceError(err, `inflating Git object ${oid.slice(0, 12)}`);
  }
}

function commitTree(content: Buffer): string {
  // "tree <40 hex>\n" is always the first line of a commit.
  return content.subarray(5, 45).toString('latin1');
}

export function parseTree(buf: Buffer): RawTreeEntry[] {
  const out: RawTreeEntry[] = [];
  let p = 0;
  while (p < buf.length) {
    const space = buf.indexOf(0x20, p);
    const nul = buf.indexOf(0, space);
    let mode = buf.subarray(p, space).toString('latin1');
    if (mode.length === 5) mode = `0${mode}`;
    const path = buf.subarray(space + 1, nul).toString('utf8');
    const oid = buf.subarray(nul + 1, nul + 21).toString('hex');
    const type = mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : 'blob';
    out.push({ mode, path, oid, type });
    p = nul + 21;
  }
  return out;
}

/** Pack index version 2: oid → offset. undefined for other versions (isomorphic-git reads those). */
function parseIdxV2(idx: Buffer): Map<string, number> | undefined {
  if (idx.length < 8 + 256 * 4 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
  const n = idx.readUInt32BE(8 + 255 * 4);
  const shaStart = 8 + 256 * 4;
  const offStart = shaStart + n * 20 + n * 4;
  const bigStart = offStart + n * 4;
  const map = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const oid = idx.subarray(shaStart + i * 20, shaStart + i * 20 + 20).toString('hex');
    let off = idx.readUInt32BE(offStart + i * 4);
    if (off & 0x80000000) {
      const j = off & 0x7fffffff;
      off = Number(idx.readBigUInt64BE(bigStart + j * 8));
    }
    map.set(oid, off);
  }
  return map;
}

/** Each entry ends where the next one starts; the last before the pack's 20-byte trailer. */
function entryEnds(offsets: Map<string, number>, packSize: number): Map<number, number> {
  const sorted = [...new Set(offsets.values())].sort((a, b) => a - b);
  const ends = new Map<number, number>();
  sorted.forEach((off, i) => ends.set(off, i + 1 < sorted.length ? sorted[i + 1]! : packSize - 20));
  return ends;
}

/** A delta's header: its base and result sizes (two varints), and where its instructions start. */
function deltaHeader(d: Buffer): { baseSize: number; resultSize: number; at: number } {
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = d[p++]!;
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80 && p < d.length);
    return v;
  };
  const baseSize = varint();
  const resultSize = varint();
  return { baseSize, resultSize, at: p };
}

function applyDelta(base: Buffer, delta: Buffer): Buffer {
  const header = deltaHeader(delta);
  if (header.baseSize !== base.length) throw new Error('delta base size mismatch');
  const out = Buffer.allocUnsafe(header.resultSize);
  let p = header.at;
  let o = 0;
  while (p < delta.length) {
    const op = delta[p++]!;
    if (op & 0x80) {
      let off = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off += delta[p++]! * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if (op & (0x10 << i)) size += delta[p++]! << (8 * i);
      if (size === 0) size = 0x10000;
      if (off + size > base.length || o + size > out.length) throw new Error('delta copies outside its base or result');
      base.copy(out, o, off, off + size);
      o += size;
    } else if (op > 0) {
      if (o + op > out.length) throw new Error('delta inserts past its result');
      delta.copy(out, o, p, p + op);
      o += op;
      p += op;
    } else {
      throw new Error('invalid delta opcode 0');
    }
  }
  if (o !== out.length) throw new Error('delta result size mismatch');
  return out;
}
