// A real API server on 127.0.0.1 over a real (in-memory) embedded store, plus small clients:
// JSON calls with fetch and a Server-Sent Events reader.
import { Registry } from 'prom-client';
import { buildServer, createToken, type CapstanServer, type ServerOptions } from '../../src/server/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

export interface TestApi {
  kv: KV;
  api: CapstanServer;
  url: string;
  registry: Registry;
  tokens: { admin: string; viewer: string; deployer: string; agentA: string; agentB: string };
  close(): Promise<void>;
}

export async function startApi(options: Partial<ServerOptions> = {}): Promise<TestApi> {
  const kv = await openEmbeddedStore();
  const registry = new Registry();
  const api = buildServer({ kv, registry, ...options });
  const { url } = await api.listen({ port: 0 });
  const token = async (role: 'admin' | 'viewer' | 'deployer' | 'agent', node?: string): Promise<string> =>
    (await createToken(kv, { role, user: `${role}${node ? `-${node}` : ''}`, ...(node ? { node } : {}) })).token;
  const tokens = {
    admin: await token('admin'),
    viewer: await token('viewer'),
    deployer: await token('deployer'),
    agentA: await token('agent', 'node-a'),
    agentB: await token('agent', 'node-b'),
  };
  return {
    kv,
    api,
    url,
    registry,
    tokens,
    async close() {
      await api.close();
      await kv.close();
    },
  };
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Sent as is (no JSON encoding, no content type unless given in headers). */
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Uint8Array | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(new URL(path, base), { method, headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

export interface SseStream {
  status: number;
  /** The next event (comments skipped); rejects if none arrives within `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseEvent>;
  /** Comment lines seen so far (heartbeats). */
  comments: string[];
  close(): void;
}

export async function openSse(base: string, path: string, options: { token?: string; lastEventId?: string } = {}): Promise<SseStream> {
  const abort = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
  const res = await fetch(new URL(path, base), { headers, signal: abort.signal });
  const queue: SseEvent[] = [];
  const comments: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let buffer = '';
  const pump = async (): Promise<void> => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const ev: Partial<SseEvent> & { lines: string[] } = { lines: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('data: ')) ev.lines.push(line.slice(6));
          }
          if (ev.event !== undefined || ev.lines.length > 0) {
            queue.push({ event: ev.event ?? 'message', id: ev.id, data: JSON.parse(ev.lines.join('\n')) });
          }
        }
        wake?.();
      }
    } catch {
      // aborted by close()
    } finally {
      ended = true;
      wake?.();
    }
  };
  void pump();
  return {
    status: res.status,
    comments,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (ended) throw new Error('the stream ended');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no event in time');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return queue.shift()!;
    },
    close() {
      abort.abort();
    },
  };
}
