// The node agent's side of the API: JSON calls with its bearer token, and a Server-Sent
// Events reader for watches. Only the agent uses it; the CLI has its own client.
import { CapstanError, isCapstanError } from '../common/index.js';
import { tlsFailureCode, tlsFailureHint, trustingFetch, type ClientTls } from '../pki/index.js';

export interface ApiEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
  /** The store revision of the change: the resume point. */
  revision: number;
}

export interface AgentApiOptions {
  /** One server URL, or several (comma-separated: the members of a Raft group), tried in turn. */
  server: string;
  token: string;
  /** Per request (not per watch stream); default 10 s. */
  timeoutMs?: number;
  /** The cluster CA to trust for https servers (and this node's certificate, for mutual TLS). */
  tls?: ClientTls;
}

export class AgentApiClient {
  private readonly bases: string[];
  private current = 0;
  private readonly token: string;
  private readonly timeoutMs: number;
  private fetch: typeof fetch;

  constructor(options: AgentApiOptions) {
    this.bases = options.server.split(',').map((s) => s.trim().replace(/\/+$/, '')).filter((s) => s !== '');
    if (this.bases.length === 0) throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', 'no server URL given');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = trustingFetch(options.tls);
  }

  /** New TLS material (a renewed node certificate) for the calls from now on. */
  setTls(tls: ClientTls): void {
    this.fetch = trustingFetch(tls);
  }

  /** The server the next call goes to. */
  get base(): string {
    return this.bases[this.current]!;
  }

  /** A JSON call; throws CAPSTAN_ERR_CLIENT_REQUEST with `status` in the context on a non-2xx answer. */
  async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const res = await this.send(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    if (!res.ok) throw requestError(method, path, res.status, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * Streams a watch, calling `onEvents` once per revision with the events of that revision.
   * Resolves when the server ends the stream; throws CAPSTAN_ERR_CLIENT_REQUEST with status
   * 410 when the resume point was compacted (list again), or on any other failure.
   */
  async watch<T>(path: string, after: number | undefined, signal: AbortSignal, onEvents: (events: ApiEvent<T>[]) => void): Promise<void> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' };
    if (after !== undefined) headers['last-event-id'] = String(after);
    const res = await this.send(path, { headers, signal });
    if (!res.ok || !res.body) throw requestError('GET', path, res.status, await res.text());
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    let buffer = '';
    let batch: ApiEvent<T>[] = [];
    const flush = (): void => {
      if (batch.length === 0) return;
      const out = batch;
      batch = [];
      onEvents(out);
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          let id: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue; // a comment or heartbeat
          const payload = JSON.parse(data.join('\n')) as unknown;
          if (event === 'ERROR') {
            const e = (payload as { error?: { status?: number; message?: string } }).error;
            throw requestError('GET', path, e?.status ?? 500, JSON.stringify(payload));
          }
          if (event !== 'ADDED' && event !== 'MODIFIED' && event !== 'DELETED') continue;
          const revision = Number(id);
          // The server writes one revision at a time; hand over a revision once it is complete.
          if (batch.length > 0 && batch[0].revision !== revision) flush();
          batch.push({ type: event, object: payload as T, revision });
        }
        flush();
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      reader.releaseLock();
      await res.body.cancel().catch(() => undefined);
    }
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const base = this.base;
    try {
      return await this.fetch(`${base}${path}`, init);
    } catch (err) {
      if (init.signal?.aborted && (init.signal.reason as Error | undefined)?.name !== 'TimeoutError') throw err;
      // The next call goes to the next member: after a failover the agent finds one that answers.
      if (this.bases[this.current] === base) this.current = (this.current + 1) % this.bases.length;
      const code = tlsFailureCode(err);
      if (code) throw new CapstanError('CAPSTAN_ERR_CLIENT_TLS', `cannot trust the Capstan server at ${base}: ${tlsFailureHint(code, 'the agent\'s CA file')}`, { cause: err, context: { path } });
      throw new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${base}`, { cause: err, context: { path } });
    }
  }
}

function requestError(method: string, path: string, status: number, text: string): CapstanError {
  let message = text.slice(0, 300);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } };
    if (parsed.error?.message) message = parsed.error.message;
  } catch {
    // not JSON: keep the text
  }
  return new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${method} ${path}: ${status} ${message}`, { context: { method, path, status } });
}

/** The HTTP status of a failed call, if it got that far. */
export function statusOf(err: unknown): number | undefined {
  return isCapstanError(err, 'CAPSTAN_ERR_CLIENT_REQUEST') ? (err.context.status as number | undefined) : undefined;
}
