// The exec stream protocol (`capstan-exec.v1`), spoken on the raw socket after an HTTP/1.1
// `101 Switching Protocols`: each frame is [channel u8][length u32 big-endian][payload].
// Channels: 0 stdin, 1 stdout, 2 stderr, 3 exit (JSON `{"exitCode":N}` or `{"error":"..."}`),
// 4 resize (JSON `{"cols":N,"rows":N}`). A zero-length stdin frame is stdin's end.
// Pure: no sockets here, so the codec is tested on its own.

export const EXEC_PROTOCOL = 'capstan-exec.v1';

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, exit: 3, resize: 4 } as const;
export type Channel = (typeof CHANNEL)[keyof typeof CHANNEL];

export const FRAME_HEADER_BYTES = 5;
/** Largest payload a decoder accepts (a peer sending more is broken or hostile). */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;

export interface Frame {
  channel: number;
  payload: Buffer;
}

export interface ExitMessage {
  exitCode?: number;
  error?: string;
}

export interface ResizeMessage {
  cols: number;
  rows: number;
}

export function encodeFrame(channel: number, payload: Uint8Array | string = Buffer.alloc(0)): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) throw new RangeError(`channel must be 0-255, got ${channel}`);
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt8(channel, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Data on stdout or stderr, split into frames of at most MAX_FRAME_PAYLOAD bytes (never an empty frame). */
export function encodeData(channel: number, data: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) out.push(encodeFrame(channel, data.subarray(at, at + MAX_FRAME_PAYLOAD)));
  return out;
}

export function encodeExit(message: ExitMessage): Buffer {
  return encodeFrame(CHANNEL.exit, JSON.stringify(message));
}

export function encodeResize(size: ResizeMessage): Buffer {
  return encodeFrame(CHANNEL.resize, JSON.stringify({ cols: size.cols, rows: size.rows }));
}

/** The exit frame's payload; a malformed one reads as an error. */
export function parseExit(payload: Buffer): ExitMessage {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o.exitCode === 'number' && Number.isInteger(o.exitCode)) return { exitCode: o.exitCode };
      if (typeof o.error === 'string') return { error: o.error };
    }
  } catch {
    // fall through
  }
  return { error: 'the exit frame is not valid' };
}

/** The resize frame's payload, or undefined when it is not two positive integers. */
export function parseResize(payload: Buffer): ResizeMessage | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536;
    return ok(v.cols) && ok(v.rows) ? { cols: v.cols, rows: v.rows } : undefined;
  } catch {
    return undefined;
  }
}

/** Reassembles frames from arbitrary chunks of a byte stream. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  /** Frames completed by `chunk`, in order. Throws RangeError on a frame over MAX_FRAME_PAYLOAD. */
  push(chunk: Uint8Array): Frame[] {
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered.length < FRAME_HEADER_BYTES) break;
      const length = this.buffered.readUInt32BE(1);
      if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`exec frame of ${length} bytes is over the ${MAX_FRAME_PAYLOAD}-byte limit`);
      if (this.buffered.length < FRAME_HEADER_BYTES + length) break;
      frames.push({ channel: this.buffered.readUInt8(0), payload: Buffer.from(this.buffered.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length)) });
      this.buffered = this.buffered.subarray(FRAME_HEADER_BYTES + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pending(): number {
    return this.buffered.length;
  }
}
