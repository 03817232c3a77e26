// A small route table: method, a path pattern (`:param` one segment, `*` the rest), the
// access the route needs, and its handler. The pattern doubles as the metrics label.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access, Principal } from './auth.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  /** Segments matched by a trailing `*`. */
  rest: string[];
  query: URLSearchParams;
  /** Undefined only on public routes. */
  principal: Principal | undefined;
}

/** A handler returns the JSON body to send (200), or undefined when it answered itself. */
export type Handler = (ctx: RouteContext) => Promise<unknown>;

export interface Route {
  method: string;
  pattern: string;
  access: Access;
  handler: Handler;
  /** Status for a JSON reply (default 200). */
  status?: number;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
  rest: string[];
}

function matchPattern(pattern: string, segments: string[]): { params: Record<string, string>; rest: string[] } | undefined {
  const parts = pattern.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '*') {
      const rest = segments.slice(i);
      return rest.length > 0 ? { params, rest } : undefined;
    }
    const s = segments[i];
    if (s === undefined) return undefined;
    if (p.startsWith(':')) params[p.slice(1)] = s;
    else if (p !== s) return undefined;
  }
  return segments.length === parts.length ? { params, rest: [] } : undefined;
}

/**
 * The first route whose pattern matches; `methodMismatch` when a pattern matched but not
 * with this method (405 rather than 404).
 */
export function findRoute(routes: Route[], method: string, path: string): Match | { methodMismatch: true } | undefined {
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  let mismatch = false;
  for (const route of routes) {
    const m = matchPattern(route.pattern, segments);
    if (!m) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, ...m };
    mismatch = true;
  }
  return mismatch ? { methodMismatch: true } : undefined;
}
