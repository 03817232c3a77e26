// A read-only Git object reader for the snapshot hot path. isomorphic-git's public API stats
// the gitdir, probes the file system and lists objects/pack on every single object, which
// dominates reading thousands of small blobs; this reads loose objects and pack files (index
// v2, ofs/ref deltas) directly with native zlib. Anything it cannot read (alternates, odd
// pack versions) falls back to isomorphic-git, so it only ever adds speed.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import * as nodeFs from 'node:fs';
import git from 'isomorphic-git';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';
export interface GitObject {
  type: ObjectType;
  content: Buffer;
}
export interface RawTreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'tree' | 'blob' | 'commit';
}

const TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Resolved delta bases kept in memory (by pack offset): chains share bases. */
const BASE_CACHE_ENTRIES = 512;

interface Pack {
  idxPath: string;
  offsets: Map<string, number>;
  data?: Promise<Buffer>;
  bases: Map<number, GitObject>;
}

export class ObjectReader {
  private packs?: Promise<Pack[]>;

  constructor(
    readonly gitdir: string,
    private readonly isoCache: object,
  ) {}

  async read(oid: string): Promise<GitObject> {
    // Packs first, like Git: a failed open per object would cost more than the lookup.
    const inPack = async (refresh: boolean) => {
      for (const pack of await this.loadPacks(refresh)) {
        const off = pack.offsets.get(oid);
        if (off !== undefined) return this.readPacked(pack, off);
      }
      return undefined;
    };
    const packed = await inPack(false);
    if (packed) return packed;
    const loose = await fsp.readFile(join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))).catch(() => undefined);
    if (loose) return parseLoose(inflateSync(loose));
    const fetched = await inPack(true);
    if (fetched) return fetched;
    // Not found here: let isomorphic-git look (and throw its NotFoundError if it is missing).
    const obj = await git.readObject({ fs: nodeFs, gitdir: this.gitdir, oid, format: 'content', cache: this.isoCache });
    return { type: obj.type as ObjectType, content: Buffer.from(obj.object as Uint8Array) };
  }

  async readTree(oid: string): Promise<RawTreeEntry[]> {
    const obj = await this.read(oid);
    if (obj.type === 'commit') return this.readTree(commitTree(obj.content));
    if (obj.type !== 'tree') throw new Error(`object ${oid} is a ${obj.type}, not a tree`);
    return parseTree(obj.content);
  }

  async readBlob(oid: string): Promise<Uint8Array> {
    const obj = await this.read(oid);
    if (obj.type !== 'blob') throw new Error(`object ${oid} is a ${obj.type}, not a blob`);
    // A copy of exact size: inflated objects sit in 16 KiB chunks, and blobs are kept for as
    // long as their commit is current (a 400-byte manifest would hold 16 KiB).
    return new Uint8Array(obj.content);
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

  /** Pack indexes are listed once and again only when an object is not found (a new fetch). */
  private loadPacks(refresh: boolean): Promise<Pack[]> {
    if (!this.packs || refresh) {
      const previous = this.packs;
      this.packs = (async () => {
        const known = previous ? await previous.catch(() => []) : [];
        const dir = join(this.gitdir, 'objects', 'pack');
        const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.idx'));
        const keep = known.filter((p) => names.includes(p.idxPath.slice(dir.length + 1)));
        for (const name of names) {
          if (keep.some((p) => p.idxPath.endsWith(name))) continue;
          const offsets = parseIdxV2(await fsp.readFile(join(dir, name)));
          if (offsets) keep.push({ idxPath: join(dir, name), offsets, bases: new Map() });
        }
        return keep;
      })();
    }
    return this.packs;
  }

  private async readPacked(pack: Pack, offset: number): Promise<GitObject> {
    const cached = pack.bases.get(offset);
    if (cached) return cached;
    pack.data ??= fsp.readFile(pack.idxPath.replace(/\.idx$/, '.pack'));
    const buf = await pack.data;
    let p = offset;
    let c = buf[p++];
    const kind = (c >> 4) & 7;
    let size = c & 0x0f;
    for (let shift = 4; c & 0x80; shift += 7) {
      c = buf[p++];
      size += (c & 0x7f) * 2 ** shift;
    }
    // Inflate into one buffer of the known size instead of growing 16 KiB chunks.
    const inflate = (at: number) => inflateSync(buf.subarray(at), { chunkSize: Math.max(64, size) });
    let obj: GitObject;
    if (kind === OFS_DELTA || kind === REF_DELTA) {
      let base: GitObject;
      if (kind === OFS_DELTA) {
        c = buf[p++];
        let back = c & 0x7f;
        while (c & 0x80) {
          c = buf[p++];
          back = ((back + 1) * 128) | (c & 0x7f);
        }
        base = await this.readPacked(pack, offset - back);
      } else {
        base = await this.read(buf.subarray(p, p + 20).toString('hex'));
        p += 20;
      }
      obj = { type: base.type, content: applyDelta(base.content, inflate(p)) };
    } else {
      const type = TYPES[kind];
      if (!type) throw new Error(`unknown object type ${kind} in ${pack.idxPath}`);
      obj = { type, content: inflate(p) };
    }
    // Only trees and bases of chains are worth keeping; blobs are read once.
    if (obj.type !== 'blob' || kind >= OFS_DELTA) {
      if (pack.bases.size >= BASE_CACHE_ENTRIES) pack.bases.delete(pack.bases.keys().next().value as number);
      pack.bases.set(offset, obj);
    }
    return obj;
  }
}

function parseLoose(raw: Buffer): GitObject {
  const nul = raw.indexOf(0);
  const [type] = raw.subarray(0, nul).toString('latin1').split(' ');
  return { type: type as ObjectType, content: raw.subarray(nul + 1) };
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
  if (idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
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

function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = delta[p++];
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  const srcSize = varint();
  if (srcSize !== base.length) throw new Error('delta base size mismatch');
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (p < delta.length) {
    const op = delta[p++];
    if (op & 0x80) {
      let off = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off += delta[p++] * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if (op & (0x10 << i)) size += delta[p++] << (8 * i);
      if (size === 0) size = 0x10000;
      base.copy(out, o, off, off + size);
      o += size;
    } else if (op > 0) {
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
