// Container output for `capstan logs`: the process runtime's log files (read from the end
// for tailLines, followed by polling while the container runs) and Docker's own logs
// (dockerode, demultiplexed). The agent server streams what these return.
import { open, stat } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { CapstanError } from '../common/index.js';

export interface LogOptions {
  follow: boolean;
  /** Only the last N lines (0: none). */
  tailLines?: number;
  /** Only output from the last N seconds. */
  sinceSeconds?: number;
  /** Prefix each line with its RFC 3339 time. */
  timestamps: boolean;
  previous: boolean;
}

function bad(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', message);
}

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw bad(`${name} takes true or false, got ${JSON.stringify(v)}`);
}

function count(query: URLSearchParams, name: string, min: number): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) throw bad(`${name} takes a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The log query parameters (kubectl's names); a bad value is CAPSTAN_ERR_API_BAD_REQUEST. */
export function parseLogQuery(query: URLSearchParams): LogOptions {
  const tailLines = count(query, 'tailLines', 0);
  const sinceSeconds = count(query, 'sinceSeconds', 1);
  return {
    follow: flag(query, 'follow'),
    previous: flag(query, 'previous'),
    timestamps: flag(query, 'timestamps'),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
  };
}

/** The offset of the first of the last `lines` lines of the first `size` bytes (a final newline ends the last line). */
export async function tailOffset(read: (buffer: Buffer, position: number) => Promise<number>, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  const chunk = 64 * 1024;
  let seen = 0;
  let pos = size;
  while (pos > 0) {
    const len = Math.min(chunk, pos);
    pos -= len;
    const buffer = Buffer.alloc(len);
    const n = await read(buffer, pos);
    for (let i = n - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a || pos + i === size - 1) continue;
      seen++;
      if (seen === lines) return pos + i + 1;
    }
  }
  return 0;
}

export interface FollowOptions {
  /** Whether the container still runs: following stops once it does not and the file is read to its end. */
  isRunning: () => Promise<boolean>;
  signal: AbortSignal;
  pollMs?: number;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A log file's content from the start (or its last `tailLines` lines), and with `follow`
 * what is appended while the container runs. A missing file reads as empty.
 */
export async function* readLogFile(path: string, options: Pick<LogOptions, 'follow' | 'tailLines'>, follow?: FollowOptions): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (handle === undefined) return;
  try {
    const read = async (buffer: Buffer, position: number): Promise<number> => (await handle.read(buffer, 0, buffer.length, position)).bytesRead;
    let offset = options.tailLines !== undefined ? await tailOffset(read, (await handle.stat()).size, options.tailLines) : 0;
    const pollMs = follow?.pollMs ?? 200;
    for (;;) {
      const size = (await stat(path).catch(() => handle.stat())).size;
      if (size < offset) offset = 0; // truncated
      while (offset < size) {
        const buffer = Buffer.alloc(Math.min(64 * 1024, size - offset));
        const n = await read(buffer, offset);
        if (n === 0) break;
        offset += n;
        yield buffer.subarray(0, n);
      }
      if (!options.follow || follow === undefined || follow.signal.aborted) return;
      if (!(await follow.isRunning())) {
        // One more read: what the process wrote just before it exited.
        const last = (await handle.stat()).size;
        if (last > offset) continue;
        return;
      }
      await pause(pollMs, follow.signal);
      if (follow.signal.aborted) return;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Docker's logs of a container, stdout and stderr merged in the order the daemon sends
 * them. A container with a TTY has one raw stream; any other is demultiplexed.
 */
export async function dockerLogs(docker: Docker, id: string, options: LogOptions, signal: AbortSignal): Promise<Readable> {
  const container = docker.getContainer(id);
  const info = await container.inspect();
  const tty = info.Config?.Tty === true;
  const base = {
    stdout: true,
    stderr: true,
    timestamps: options.timestamps,
    ...(options.tailLines !== undefined ? { tail: options.tailLines } : {}),
    ...(options.sinceSeconds !== undefined ? { since: Math.floor(Date.now() / 1000) - options.sinceSeconds } : {}),
  };
  const out = new PassThrough();
  if (!options.follow) {
    const buffer = (await container.logs({ ...base, follow: false })) as unknown as Buffer;
    const source = Readable.from([Buffer.from(buffer)]);
    if (tty) source.pipe(out);
    else {
      docker.modem.demuxStream(source, out, out);
      source.on('end', () => out.end());
    }
    return out;
  }
  const stream = (await container.logs({ ...base, follow: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const stop = (): void => {
    stream.destroy();
    out.end();
  };
  signal.addEventListener('abort', stop, { once: true });
  if (tty) stream.pipe(out);
  else docker.modem.demuxStream(stream, out, out);
  stream.on('end', () => out.end());
  stream.on('close', () => out.end());
  stream.on('error', (err: Error) => out.destroy(err));
  out.on('close', () => signal.removeEventListener('abort', stop));
  return out;
}
