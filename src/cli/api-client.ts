// The CLI's client for the Capstan API server: where the server is, which token to send, and
// errors a person can act on ("is `capstan up` running?").

import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { CapstanError } from '../common/errors.js';
import { redactUrl } from '../common/logger.js';
import { findClusterCa, tlsFailureCode, tlsFailureHint, tlsRequestOptions, trustingFetch, type ClientTls } from '../pki/index.js';
import type { CliIO } from './io.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:7480';
const TIMEOUT_MS = 15_000;

export interface ConnectionOptions {
  server?: string;
  token?: string;
  dataDir?: string;
  /** `--ca`: the cluster CA to trust for an https server (else CAPSTAN_CA, else `<data-dir>/pki/ca.crt`). */
  ca?: string;
}

export interface ApiClient {
  readonly server: string;
  get<T = unknown>(path: string): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  delete<T = unknown>(path: string): Promise<T>;
  /** Server-Sent Events from a watch URL; ends when the signal aborts. */
  watch(path: string, onEvent: (type: string, data: unknown, id?: string) => void, signal: AbortSignal): Promise<void>;
  /** A streamed GET (pod logs): the response once its status is 200; no time limit but the signal. */
  stream(path: string, signal: AbortSignal): Promise<Response>;
  /** A POST upgraded to `protocol` (pod exec): the raw socket and any bytes already read past the 101. */
  upgrade(path: string, protocol: string): Promise<{ socket: Socket; head: Buffer }>;
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
  // An https server is trusted through the cluster CA when one is found, and the system's
  // roots otherwise (a server behind a proxy with a public certificate).
  const found = server.startsWith('https:') ? findClusterCa({ ca: options.ca, env: io.env, cwd: io.cwd, dataDir: options.dataDir ?? '.capstan' }) : undefined;
  const tls: ClientTls | undefined = found ? { ca: found.pem } : undefined;
  const fetch = trustingFetch(tls);
  const unreachable = (cause: unknown, hint = ' (is `capstan up` running? set --server or CAPSTAN_SERVER)'): CapstanError => {
    const code = tlsFailureCode(cause);
    if (code) return new CapstanError('CAPSTAN_ERR_CLIENT_TLS', `cannot trust the Capstan server at ${shown}: ${tlsFailureHint(code, found?.file)}`, { cause });
    return new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${shown}${hint}`, { cause });
  };

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
      throw unreachable(cause);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) throw refused(method, path, res.status, text, res.statusText);
    return json as T;
  }

  function refused(method: string, path: string, status: number, text: string, statusText: string): CapstanError {
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const hint = status === 401 ? ' (pass --token, set CAPSTAN_TOKEN, or run where `capstan up` wrote .capstan/admin.token)' : '';
    return new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${method} ${path}: HTTP ${status}: ${err?.message ?? (text.slice(0, 200) || statusText)}${hint}`, {
      context: { status, code: err?.code },
    });
  }

  async function stream(path: string, signal: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${server}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal });
    } catch (cause) {
      throw unreachable(cause);
    }
    if (!res.ok) throw refused('GET', path, res.status, await res.text(), res.statusText);
    return res;
  }

  function upgrade(path: string, protocol: string): Promise<{ socket: Socket; head: Buffer }> {
    const url = new URL(`${server}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: 'POST',
        headers: { connection: 'Upgrade', upgrade: protocol, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        timeout: TIMEOUT_MS,
        ...tlsRequestOptions(tls),
      });
      req.once('upgrade', (_res: IncomingMessage, socket: Socket, head: Buffer) => {
        socket.setTimeout(0);
        resolve({ socket, head });
      });
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => reject(refused('POST', path, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.statusMessage ?? '')));
        res.once('error', reject);
      });
      req.once('timeout', () => req.destroy(new Error('timed out')));
      req.once('error', (cause) =>
        reject(unreachable(cause)),
      );
      req.end();
    });
  }

  return {
    server: shown,
    stream,
    upgrade,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body ?? {}),
    delete: (path) => request('DELETE', path),
    async watch(path, onEvent, signal) {
      let res: Response;
      try {
        res = await fetch(`${server}${path}`, { headers: token ? { authorization: `Bearer ${token}`, accept: 'text/event-stream' } : {}, signal });
      } catch (cause) {
        if (signal.aborted) return;
        throw unreachable(cause, '');
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
