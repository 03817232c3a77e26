// Header lists as the proxy forwards them: hop-by-hop fields (RFC 9110 section 7.6.1, and
// those a Connection field names) dropped, X-Forwarded-For and X-Forwarded-Proto added.
import type http from 'node:http';

// RFC 9110 section 7.6.1: connection-specific fields a proxy must not forward.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

type Headers = http.IncomingHttpHeaders | http.OutgoingHttpHeaders;

/** Field names a Connection field lists (lowercase), beyond the fixed hop-by-hop set. */
function connectionNamed(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // The usual values, checked without splitting.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return into;
  let named = into;
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    // keep-alive and close are hop-by-hop anyway.
    if (token === '' || HOP_BY_HOP.has(token)) continue;
    (named ??= new Set()).add(token);
  }
  return named;
}

/** A copy of `headers` without hop-by-hop fields, including those the Connection field names. */
export function stripHopByHop(headers: Headers): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const conn = headers.connection;
  const named = conn === undefined ? undefined : connectionNamed(Array.isArray(conn) ? conn.join(',') : String(conn), undefined);
  for (const key in headers) {
    if (HOP_BY_HOP.has(key) || named?.has(key)) continue;
    const v = headers[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** What `forwardRaw` found while copying a request's raw header list. */
export interface RawScan {
  /** The request has a body (Content-Length or Transfer-Encoding). */
  body: boolean;
}

/**
 * `raw` (name, value, name, value, ... as `IncomingMessage.rawHeaders`) without hop-by-hop
 * fields, as a flat list `http.request` and `writeHead` take. With `peer`, the request
 * variant: X-Forwarded-For gets the peer appended (values of repeated fields joined, as
 * Node joins them), X-Forwarded-Proto is set to `proto` (default http) when absent.
 */
export function forwardRaw(raw: readonly string[], peer?: string, scan?: RawScan, proto0 = 'http'): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') named = connectionNamed(raw[i + 1], named);
  }
  const out: string[] = [];
  let xff: string | undefined;
  let proto = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (scan !== undefined && (lower === 'content-length' || lower === 'transfer-encoding')) scan.body = true;
    if (peer !== undefined && lower === 'x-forwarded-for') {
      const v = raw[i + 1];
      xff = xff === undefined ? v : `${xff}, ${v}`;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (peer !== undefined && lower === 'x-forwarded-proto') proto = true;
    out.push(name, raw[i + 1]);
  }
  if (peer !== undefined) {
    out.push('x-forwarded-for', xff === undefined || xff === '' ? peer : `${xff}, ${peer}`);
    if (!proto) out.push('x-forwarded-proto', proto0);
  }
  return out;
}
