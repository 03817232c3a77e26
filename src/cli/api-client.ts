// The CLI's client for the Capstan API server: where the server is, which token to send, and
// errors a person can act on ("is `capstan up` running?").

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CapstanError } from '../common/errors.js';
import { redactUrl } from '../common/logger.js';
import type { CliIO } from './io.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:7480';
const TIMEOUT_MS = 15_000;

export interface ConnectionOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

export interface ApiClient {
  readonly server: string;
  get<T = unknown>(path: string): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  delete<T = unknown>(path: string): Promise<T>;
  /** Server-Sent Events from a watch URL; ends when the signal aborts. */
  watch(path: string, onEvent: (type: string, data: unknown, id?: string) => void, signal: AbortSignal): Promise<void>;
}

function isLocal(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Server from --server, CAPSTAN_SERVER or the default; token from --token, CAPSTAN_TOKEN, or,
 * for a local server, `<data-dir>/admin.token` as `capstan up` writes it.
 */
export function connect(io: CliIO, options: ConnectionOptions): ApiClient {
  const server = (options.server ?? io.env.CAPSTAN_SERVER ?? DEFAULT_SERVER).replace(/\/+$/, '');
  let token = options.token ?? io.env.CAPSTAN_TOKEN;
  if (!token && isLocal(server)) {
    const file = join(resolve(io.cwd, options.dataDir ?? '.capstan'), 'admin.token');
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      // No token file: the server will answer 401 with a message that says what to do.
    }
  }
  const shown = redactUrl(server);

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${server}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (cause) {
      throw new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${shown} (is \`capstan up\` running? set --server or CAPSTAN_SERVER)`, { cause });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      const hint = res.status === 401 ? ' (pass --token, set CAPSTAN_TOKEN, or run where `capstan up` wrote .capstan/admin.token)' : '';
      throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${method} ${path}: HTTP ${res.status}: ${err?.message ?? (text.slice(0, 200) || res.statusText)}${hint}`, {
        context: { status: res.status, code: err?.code },
      });
    }
    return json as T;
  }

  return {
    server: shown,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body ?? {}),
    delete: (path) => request('DELETE', path),
    async watch(path, onEvent, signal) {
      let res: Response;
      try {
        res = await fetch(`${server}${path}`, { headers: token ? { authorization: `Bearer ${token}`, accept: 'text/event-stream' } : {}, signal });
      } catch (cause) {
        if (signal.aborted) return;
        throw new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${shown}`, { cause });
      }
      if (!res.ok || !res.body) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `GET ${path}: HTTP ${res.status}`);
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = 'message';
            let id: string | undefined;
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (data.length) onEvent(type, JSON.parse(data.join('\n')), id);
          }
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    },
  };
}
