// A small binary writer and reader for log entries and snapshots: length-prefixed strings
// and bytes, numbers as float64 (revisions and ids stay below 2^53). Compact and JSON-free,
// because every write goes through here on the hot path.

/** Copies bytes with Buffer#copy, which is far faster in Node than TypedArray#set. */
export function copyBytes(src: Uint8Array, dst: Buffer, at: number): void {
  (Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength)).copy(dst, at);
}

/**
 * A value in its own exact-size buffer. Decoded commands hand out views into the whole log
 * entry (a transaction of a hundred pods is one buffer); keeping such a view would keep the
 * entire entry alive for as long as any one of its values is current. Not from Buffer's
 * shared pool either, for the same reason at a smaller scale.
 */
export function ownBytes(value: Uint8Array): Uint8Array {
  if (value.length === 0) return new Uint8Array(0);
  const own = Buffer.allocUnsafeSlow(value.length);
  copyBytes(value, own, 0);
  return own;
}

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.u32(v.length);
    this.ensure(v.length);
    copyBytes(v, this.buf, this.pos);
    this.pos += v.length;
    return this;
  }

  str(v: string): this {
    const n = Buffer.byteLength(v, 'utf8');
    this.u32(n);
    this.ensure(n);
    this.buf.write(v, this.pos, n, 'utf8');
    this.pos += n;
    return this;
  }

  /** The bytes written so far (a view; the writer must not be reused afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /**
   * The bytes written so far in a buffer of their own size when the writer's buffer is over
   * a quarter larger (it grows by doubling): for bytes kept a while, such as log entries.
   */
  finishExact(): Buffer {
    if (this.buf.length - this.pos <= this.pos >>> 2) return this.finish();
    const out = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}

export class ByteReader {
  private pos = 0;
  private readonly buf: Buffer;

  constructor(data: Uint8Array) {
    this.buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`truncated data at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A view into the source; callers copy when the source buffer must not be retained. */
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  str(): string {
    const n = this.u32();
    this.need(n);
    const v = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}
