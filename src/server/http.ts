// HTTP plumbing: JSON replies, the error shape, error code → status, and bounded JSON bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CapstanError, isCapstanError, type ErrorCode } from '../common/index.js';

/** Default request body limit: 1 MiB (the store itself takes up to 1.5 MiB per request). */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  CAPSTAN_ERR_AUTH_MISSING_TOKEN: 401,
  CAPSTAN_ERR_AUTH_INVALID_TOKEN: 401,
  CAPSTAN_ERR_AUTH_FORBIDDEN: 403,
  CAPSTAN_ERR_API_NOT_FOUND: 404,
  CAPSTAN_ERR_API_METHOD_NOT_ALLOWED: 405,
  CAPSTAN_ERR_API_CONFLICT: 409,
  CAPSTAN_ERR_API_GONE: 410,
  CAPSTAN_ERR_STORE_COMPACTED: 410,
  CAPSTAN_ERR_API_BODY_TOO_LARGE: 413,
  CAPSTAN_ERR_STORE_TOO_LARGE: 413,
  CAPSTAN_ERR_API_UNSUPPORTED_MEDIA_TYPE: 415,
  CAPSTAN_ERR_API_BAD_REQUEST: 400,
  CAPSTAN_ERR_API_SCHEMA: 400,
  CAPSTAN_ERR_API_REQUIRED: 400,
  CAPSTAN_ERR_API_NAME: 400,
  CAPSTAN_ERR_API_UNKNOWN_KIND: 400,
  CAPSTAN_ERR_API_SELECTOR: 400,
  CAPSTAN_ERR_API_REFERENCE: 400,
  CAPSTAN_ERR_STORE_INVALID_KEY: 400,
  CAPSTAN_ERR_CONFIG_INVALID: 400,
  CAPSTAN_ERR_API_NOT_IMPLEMENTED: 501,
  CAPSTAN_ERR_API_POD_NOT_BOUND: 400,
  CAPSTAN_ERR_API_CONTAINER_NAME: 400,
  CAPSTAN_ERR_API_NODE_UNREACHABLE: 502,
  CAPSTAN_ERR_AGENT_PROXY_AUTH: 401,
  CAPSTAN_ERR_AGENT_EXEC: 400,
  CAPSTAN_ERR_STORE_UNAVAILABLE: 503,
  CAPSTAN_ERR_STORE_NOT_LEADER: 503,
  CAPSTAN_ERR_STORE_CLOSED: 503,
  CAPSTAN_ERR_STORE_NO_SPACE: 507,
  CAPSTAN_ERR_CONTROLLER_NOT_LEADER: 503,
};

/** The HTTP status for an error: by code, then any `*_NOT_FOUND` is 404, else 500. */
export function statusForError(err: unknown): number {
  if (!isCapstanError(err)) return 500;
  const known = STATUS_BY_CODE[err.code];
  if (known !== undefined) return known;
  if (err.code.endsWith('_NOT_FOUND')) return 404;
  return 500;
}

export function apiError(code: ErrorCode, message: string, context?: Record<string, unknown>): CapstanError {
  return new CapstanError(code, message, context ? { context } : {});
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** `{ "error": { "code", "message" } }`; unexpected errors never leak their message. */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): number {
  const status = statusForError(err);
  const body = isCapstanError(err)
    ? { error: { code: err.code, message: err.message } }
    : { error: { code: 'CAPSTAN_ERR_INTERNAL_ERROR', message: 'internal server error' } };
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  sendJson(res, status, body, headers);
  return status;
}

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * Reads a JSON body of at most `limit` bytes. Undefined when the request has no body.
 * Over the limit → 413 (checked from Content-Length first, then while reading); not JSON
 * → 415; unparsable → 400.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? Number(declared) > 0 : req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return undefined;
  if (declared !== undefined && Number(declared) > limit) {
    throw apiError('CAPSTAN_ERR_API_BODY_TOO_LARGE', `the request body is over the ${limit}-byte limit`, { limit });
  }
  if (!isJsonContentType(req.headers['content-type'])) {
    throw apiError('CAPSTAN_ERR_API_UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw apiError('CAPSTAN_ERR_API_BODY_TOO_LARGE', `the request body is over the ${limit}-byte limit`, { limit });
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', 'the request body is not valid JSON', { cause });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
