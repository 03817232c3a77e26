// [raft] Routes for `capstan members`: list, add (as a learner) and remove members of the
// Raft group this server belongs to. Admin only; a server without a group answers 404.
// With CAPSTAN_DEBUG_ROUTES=1 (tests only) also raw reads and writes under /debug/ and a
// switch that cuts this member's peer transport for a while.
import type { MembersAdmin } from '../store/index.js';
import { apiError, isRecord, readJsonBody } from './http.js';
import type { Route } from './routes.js';

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function memberRoutes(admin: MembersAdmin | undefined): Route[] {
  const need = (): MembersAdmin => {
    if (!admin) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', 'this server is not a member of a Raft group (start it with --peers)');
    return admin;
  };
  const checkName = (name: unknown): string => {
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'a member name is lower-case letters, digits and dashes');
    }
    return name;
  };
  const debug: Route[] =
    process.env.CAPSTAN_DEBUG_ROUTES === '1'
      ? [
          {
            method: 'POST',
            pattern: '/api/v1/debug/kv/:key',
            access: 'admin',
            handler: async (ctx) => {
              const body = await readJsonBody(ctx.req, 64 * 1024);
              if (!isRecord(body) || typeof body.value !== 'string') throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send {"value": "..."}');
              return need().debug.put(checkName(ctx.params.key), body.value);
            },
          },
          { method: 'GET', pattern: '/api/v1/debug/kv/:key', access: 'admin', handler: async (ctx) => need().debug.get(checkName(ctx.params.key)) },
          {
            method: 'POST',
            pattern: '/api/v1/debug/isolate',
            access: 'admin',
            handler: async (ctx) => {
              // Heals by itself after `ms`: once cut off, this server cannot check a token.
              const body = await readJsonBody(ctx.req, 1024);
              const ms = isRecord(body) && typeof body.ms === 'number' && body.ms > 0 ? Math.min(body.ms, 600_000) : 0;
              if (!ms) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send {"ms": <how long to stay cut off>}');
              const a = need();
              a.debug.isolate(true);
              setTimeout(() => a.debug.isolate(false), ms).unref();
              return { isolatedForMs: ms };
            },
          },
        ]
      : [];
  return [
    ...debug,
    { method: 'GET', pattern: '/api/v1/members', access: 'admin', handler: () => need().list() },
    {
      method: 'POST',
      pattern: '/api/v1/members',
      access: 'admin',
      status: 201,
      handler: async (ctx) => {
        const a = need();
        const body = await readJsonBody(ctx.req, 16 * 1024);
        if (!isRecord(body) || typeof body.peerUrl !== 'string') throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send {"name": "...", "peerUrl": "http://host:port"}');
        return a.add(checkName(body.name), body.peerUrl);
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/members/:name/remove',
      access: 'admin',
      handler: async (ctx) => need().remove(checkName(ctx.params.name)),
    },
  ];
}
