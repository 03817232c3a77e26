// The API server: the one component that talks to the store for the CLI and the agents.
// buildServer() wires routes and returns a request listener and an unstarted http.Server;
// listen() binds it (127.0.0.1 unless told otherwise).
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { silentLogger } from '../common/index.js';
import type { KV } from '../store/index.js';
import { agentNeedsEnvSource, heartbeatNode, writePodStatus } from './agent.js';
import { analysisRunsRoute } from './analysis-runs.js';
import { allowed, authenticate, createToken, forbidden, listTokens, lookupToken, revokeToken, type Principal, type Role } from './auth.js';
import { DEPLOYMENT_ACTIONS, type ControlHandlers, type ControlRequest, type DeploymentAction } from './control.js';
import { apiError, DEFAULT_BODY_LIMIT_BYTES, isRecord, readJsonBody, sendError, sendJson } from './http.js';
import { httpMetrics } from './metrics.js';
import { checkingIntervalMs, ConnectionGuard, resolveConnectionLimits, type ConnectionLimits } from './connections.js';
import { podNode, resources, type Resource } from './resources.js';
import { findRoute, type Route, type RouteContext } from './routes.js';
import { readsMasked, redactingResource } from './redact.js';
import { memberRoutes } from './members.js';
import { nodeAdminRoutes } from './nodes-admin.js';
import { podExecUpgrade, podProxyRoutes, writeSocketError } from './pod-proxy.js';
import { checkNotCompacted, resumePoint, streamWatch } from './watch.js';
import { VERSION } from '../common/version.js';
import { dashboardRoutes } from '../dashboard/serve.js';
import { pkiRoutes } from './pki-routes.js';
import { routerFeedRoutes } from './router-feed.js';
import { routerStatsRoutes } from './router-stats.js';

export interface ServerOptions {
  kv: KV;
  logger?: Logger;
  /** Where request metrics go and what /metrics serves; a private registry when absent. */
  registry?: Registry;
  control?: ControlHandlers;
  /** Largest request body (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Comment lines on idle watch streams, so proxies keep them open (default 15 s). */
  heartbeatMs?: number;
  /** TTL of a node's lease: how long after its last heartbeat a node counts as gone (default 40 s). */
  nodeLeaseSeconds?: number;
  /** Rewrite an unchanged node object at most this often (default 60 s). */
  nodeStatusUpdateSeconds?: number;
  /** Serve /metrics without a token (for a scraper on a trusted network). Default: any read role. */
  publicMetrics?: boolean;
  now?: () => number;
  // [webhooks/gitserve] Raw handlers that authenticate requests themselves: the Git host
  // webhook (by signature) and the smart-HTTP Git server under /git/ (Basic auth with an
  // API token for push). Absent → those routes answer 404.
  webhook?: RawRequestHandler;
  gitHttp?: RawRequestHandler;
  /** [raft] Membership of the Raft group this server belongs to (`capstan members`). */
  members?: import('../store/index.js').MembersAdmin;
  /** Timeouts and connection caps of the listener (see connections.ts for the defaults and how the caps decide). */
  connections?: ConnectionLimits;
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP when absent. */
  tls?: { cert: string; key: string };
  /** [pki] The cluster CA: served to joining nodes, and signing their certificates. */
  pki?: { ca: import('../pki/index.js').CertifiedKey; caFingerprint: string; nodeCertDays?: number };
}

/** A handler that writes its own reply (status, headers, body). */
export type RawRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface ListenOptions {
  port?: number;
  host?: string;
  /**
   * Pending-accept queue length (default 4096; the kernel caps it at net.core.somaxconn).
   * Node's 511 overflows under a connection flood, and a dropped SYN costs a real client a
   * 1 s retransmit.
   */
  backlog?: number;
}

export interface CapstanServer {
  readonly server: Server;
  /** The connection caps in effect and the sockets they track. */
  readonly connections: ConnectionGuard;
  readonly registry: Registry;
  /** The request listener, usable without a socket. */
  readonly handle: RequestListener;
  listen(options?: ListenOptions): Promise<{ url: string; host: string; port: number }>;
  /** Ends watch streams and closes the listener. */
  close(): Promise<void>;
  /** Provides (or replaces) the control handlers after the server is built. */
  setControlHandlers(handlers: ControlHandlers): void;
}


export function buildServer(options: ServerOptions): CapstanServer {
  const kv = options.kv;
  const logger = (options.logger ?? silentLogger()).child({ component: 'api-server' });
  const registry = options.registry ?? new Registry();
  const metrics = httpMetrics(registry);
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const nodeLeaseSeconds = options.nodeLeaseSeconds ?? 40;
  const nodeStatusUpdateSeconds = options.nodeStatusUpdateSeconds ?? 60;
  const now = options.now ?? Date.now;
  const byName = resources();
  const shutdown = new AbortController();
  const streams = new Set<Promise<void>>();
  let control: ControlHandlers = options.control ?? {};

  function resourceOf(ctx: RouteContext, single = false): Resource {
    const r = byName.get(ctx.params.resource!);
    if (!r) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no resource ${JSON.stringify(ctx.params.resource)}; try one of ${[...byName.keys()].join(', ')}`);
    const p = ctx.principal!;
    // Agents read only pods, and only the ones bound to their node (filtered below), single
    // ConfigMaps and Secrets those pods reference (checked in getOne), and the list and watch
    // of Services (no secrets in them) for their pods' Service environment variables.
    const agentReads = r.name === 'pods' || (single ? r.name === 'desired' : r.name === 'services');
    if (p.role === 'agent' && !agentReads) throw forbidden(p, `read ${r.name}`);
    // Everyone else reads Secret values masked, in every object of every resource (redact.ts).
    return readsMasked(p) ? redactingResource(r) : r;
  }

  /** Namespace filter plus, for agents, "bound to my node". */
  function filterFor(r: Resource, principal: Principal, query: URLSearchParams): (item: unknown) => boolean {
    const ns = query.get('namespace') ?? undefined;
    return (item) => {
      if (ns !== undefined && r.namespaceOf(item) !== ns) return false;
      if (principal.role === 'agent' && r.name === 'pods' && podNode(item) !== principal.node) return false;
      return true;
    };
  }

  async function listOrWatch(ctx: RouteContext): Promise<unknown> {
    const r = resourceOf(ctx);
    const keep = filterFor(r, ctx.principal!, ctx.query);
    const watch = ctx.query.get('watch');
    if (watch === '1' || watch === 'true') {
      const after = resumePoint(ctx.req, ctx.query);
      if (after !== undefined) await checkNotCompacted(kv, r, after);
      const stream = streamWatch(ctx.req, ctx.res, { kv, resource: r, after, keep, heartbeatMs, logger, signal: shutdown.signal });
      streams.add(stream);
      try {
        await stream;
      } finally {
        streams.delete(stream);
      }
      return undefined;
    }
    const revision = await kv.revision();
    const ns = ctx.query.get('namespace') ?? undefined;
    const items = (await r.list(kv, revision, ns)).filter(keep);
    return { kind: 'List', resource: r.name, resourceVersion: revision, items };
  }

  async function trackStream(stream: Promise<void>): Promise<void> {
    streams.add(stream);
    try {
      await stream;
    } finally {
      streams.delete(stream);
    }
  }

  async function getOne(ctx: RouteContext): Promise<unknown> {
    const r = resourceOf(ctx, true);
    if (ctx.rest.length !== r.getSegments) {
      throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `${r.name} are addressed as /api/v1/${r.name}/${r.getSegments === 1 ? '{name}' : '{namespace}/…'} (${r.getSegments} segments)`);
    }
    const p = ctx.principal!;
    if (p.role === 'agent' && r.name === 'desired') {
      if (!(await agentNeedsEnvSource(kv, p, ctx.rest))) throw forbidden(p, `read ${ctx.rest.join('/')}, which no pod on its node references`);
    }
    const item = await r.get(kv, ctx.rest);
    if (p.role === 'agent' && r.name !== 'desired' && (item === undefined || podNode(item) !== p.node)) {
      throw forbidden(p, `read pod ${ctx.rest.join('/')}, which is not bound to its node`);
    }
    if (item === undefined) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `${r.name} ${ctx.rest.join('/')} does not exist`);
    return item;
  }

  async function controlRequest(ctx: RouteContext): Promise<ControlRequest> {
    return { principal: ctx.principal!, body: await readJsonBody(ctx.req, bodyLimit), query: ctx.query };
  }

  function notImplemented(what: string): never {
    throw apiError('CAPSTAN_ERR_API_NOT_IMPLEMENTED', `${what} is not available on this server yet`);
  }

  const routes: Route[] = [
    ...memberRoutes(options.members), // [raft]
    ...nodeAdminRoutes({ kv, bodyLimit, now, logger }), // cordon, uncordon, drain, delete node (admin)
    ...(options.pki ? pkiRoutes({ ...options.pki, bodyLimit, logger, now }) : []), // the CA and node certificates
    {
      method: 'GET',
      pattern: '/healthz',
      access: 'public',
      handler: async () => ({ status: 'ok', revision: await kv.revision() }),
    },
    {
      method: 'GET',
      pattern: '/version',
      access: 'read',
      handler: async () => ({ version: VERSION, node: process.version, platform: `${process.platform}/${process.arch}` }),
    },
    {
      method: 'GET',
      pattern: '/metrics',
      access: options.publicMetrics ? 'public' : 'read',
      handler: async ({ res }) => {
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return undefined;
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/sync',
      access: 'control',
      handler: async (ctx) => {
        const handler = control.sync ?? notImplemented('sync');
        return (await handler(await controlRequest(ctx))) ?? {};
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/deployments/:namespace/:name/:action',
      access: 'control',
      handler: async (ctx) => {
        const action = ctx.params.action as DeploymentAction;
        if (!DEPLOYMENT_ACTIONS.includes(action)) {
          throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no deployment action ${JSON.stringify(action)}; use one of ${DEPLOYMENT_ACTIONS.join(', ')}`);
        }
        const handler = control[action] ?? notImplemented(action);
        return (await handler({ namespace: ctx.params.namespace!, name: ctx.params.name! }, await controlRequest(ctx))) ?? {};
      },
    },
    {
      method: 'PUT',
      pattern: '/api/v1/nodes/:name',
      access: 'node',
      handler: async (ctx) => {
        const body = await readJsonBody(ctx.req, bodyLimit);
        return heartbeatNode(kv, ctx.principal!, ctx.params.name!, body, { leaseSeconds: nodeLeaseSeconds, statusUpdateSeconds: nodeStatusUpdateSeconds, now });
      },
    },
    {
      method: 'PUT',
      pattern: '/api/v1/pods/:namespace/:name/status',
      access: 'node',
      handler: async (ctx) => {
        const body = await readJsonBody(ctx.req, bodyLimit);
        return writePodStatus(kv, ctx.principal!, ctx.params.namespace!, ctx.params.name!, body);
      },
    },
    {
      method: 'GET',
      pattern: '/api/v1/tokens',
      access: 'admin',
      handler: async () => ({ items: await listTokens(kv) }),
    },
    {
      method: 'POST',
      pattern: '/api/v1/tokens',
      access: 'admin',
      status: 201,
      handler: async (ctx) => {
        const body = await readJsonBody(ctx.req, bodyLimit);
        if (!isRecord(body)) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send { "role": "...", "user": "...", "node"?: "...", "ttlSeconds"?: N }');
        const created = await createToken(kv, {
          role: body.role as Role,
          user: body.user as string,
          ...(body.node !== undefined ? { node: body.node as string } : {}),
          ...(body.ttlSeconds !== undefined ? { ttlSeconds: body.ttlSeconds as number } : {}),
          now,
        });
        logger.info({ tokenId: created.id, role: created.record.role, user: created.record.user, expiresAt: created.record.expiresAt }, 'token created');
        return { token: created.token, id: created.id, ...created.record };
      },
    },
    {
      method: 'DELETE',
      pattern: '/api/v1/tokens/:id',
      access: 'admin',
      handler: async (ctx) => {
        if (!(await revokeToken(kv, ctx.params.id!))) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', 'no token with that id');
        logger.info({ tokenId: ctx.params.id }, 'token revoked');
        return { revoked: ctx.params.id };
      },
    },
    // [webhooks/gitserve] authenticated by their handlers, not by bearer token (see src/webhooks, src/gitserve).
    {
      method: 'POST',
      pattern: '/api/v1/webhooks/git',
      access: 'public',
      handler: async ({ req, res }) => {
        if (!options.webhook) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', 'webhooks are not enabled on this server');
        await options.webhook(req, res);
        return undefined;
      },
    },
    ...(['GET', 'POST'] as const).map((method): Route => ({
      method,
      pattern: '/git/*',
      access: 'public',
      handler: async ({ req, res }) => {
        if (!options.gitHttp) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', 'this server does not serve a Git repository');
        if (method === 'POST') await exemptAuthenticatedUpload(req, res);
        await options.gitHttp(req, res);
        return undefined;
      },
    })),
    ...dashboardRoutes({ kv }), // the web dashboard at / and its read-only views
    analysisRunsRoute(kv),
    ...podProxyRoutes({ kv, logger, ...(options.pki ? { ca: options.pki.ca.cert } : {}) }), // pod logs and exec, proxied to the node's agent
    // What every node's Service router reads (Services, traffic policies, pods projected), and its figures sent back.
    ...routerFeedRoutes({ kv, logger, heartbeatMs, signal: shutdown.signal, track: trackStream }),
    ...routerStatsRoutes({ kv, bodyLimit, now, logger }),
    { method: 'GET', pattern: '/api/v1/:resource', access: 'any', handler: listOrWatch },
    { method: 'GET', pattern: '/api/v1/:resource/*', access: 'any', handler: getOne },
  ];

  const handle: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    let route = 'unmatched';
    let recorded = false;
    const record = (): void => {
      if (recorded) return;
      recorded = true;
      const labels = { method, route, code: String(res.statusCode) };
      metrics.requests.inc(labels);
      metrics.duration.observe(labels, (performance.now() - started) / 1000);
      logger.debug({ method, route, status: res.statusCode }, 'request');
    };
    res.once('finish', record);
    res.once('close', record);

    const serve = async (): Promise<void> => {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'the request URL is not valid');
      }
      const found = findRoute(routes, method, url.pathname);
      if (!found) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no route for ${method} ${url.pathname}`);
      if ('methodMismatch' in found) throw apiError('CAPSTAN_ERR_API_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
      route = found.route.pattern;
      let principal: Principal | undefined;
      if (found.route.access !== 'public') {
        principal = await authenticate(kv, req.headers.authorization);
        if (!allowed(principal, found.route.access)) throw forbidden(principal, `${method} ${found.route.pattern}`);
      }
      const body = await found.route.handler({ req, res, params: found.params, rest: found.rest, query: url.searchParams, principal });
      if (body !== undefined && !res.headersSent) sendJson(res, found.route.status ?? 200, body);
    };

    serve().catch((err: unknown) => {
      const status = sendError(res, err, errorHeaders(req, err));
      if (status >= 500) logger.error({ err, method, route }, 'request failed');
    });
  };

  /** After a 413 the rest of the body is not read: close the connection instead. */
  function errorHeaders(req: IncomingMessage, err: unknown): Record<string, string> {
    if ((err as { code?: string }).code === 'CAPSTAN_ERR_API_BODY_TOO_LARGE') {
      req.resume(); // discard what still arrives, so the client can read the reply
      return { connection: 'close' };
    }
    return {};
  }

  const limits = resolveConnectionLimits(options.connections, heartbeatMs);
  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default, far longer than they are).
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
  const tls = options.tls;
  const server: Server = tls
    ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout: limits.headersTimeoutMs }, handle)
    : createServer(serverOptions, handle);
  // Over TLS a request's socket is the TLS socket, which exists once the handshake is done:
  // the caps and the close bookkeeping track those. A failed handshake only closes its socket.
  const connectionEvent = tls ? 'secureConnection' : 'connection';
  if (tls) server.on('tlsClientError', (err: Error, socket: Socket) => socket.destroy());
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.setTimeout(limits.idleTimeoutMs); // sockets silent both ways; watch streams send heartbeats
  const guard = new ConnectionGuard(limits, logger, registry);
  server.on(connectionEvent, (socket: Socket) => {
    guard.connection(socket);
  });
  // Failed accepts (EMFILE/ENFILE) arrive as 'error' on the server: without a listener they
  // would end the process. Errors before listening are listen()'s to report.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (guard.acceptError(err)) return;
    if (server.listening) logger.error({ err }, 'API listener error');
  });
  // The response in progress on each socket, and the sockets whose request body may take
  // longer than requestTimeout (an authenticated Git push uploading its pack).
  const current = new Map<Socket, ServerResponse>();
  const longUploads = new Set<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && longUploads.has(socket) && !socket.destroyed) return;
    // Otherwise what Node does without a listener: a minimal reply when none has started, then close.
    if (err.code !== 'ECONNRESET' && socket.writable && !current.get(socket)?.headersSent) {
      const status =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
              ? '413 Payload Too Large'
              : '400 Bad Request';
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`, () => {});
    }
    socket.destroy();
  });

  /** A Git POST with a valid token is exempt from requestTimeout while its response is open. */
  async function exemptAuthenticatedUpload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return;
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    const token = text.slice(text.indexOf(':') + 1);
    if (text.indexOf(':') < 0 || token === '' || !(await lookupToken(kv, token))) return;
    const socket = req.socket;
    if (res.writableEnded || socket.destroyed) return;
    longUploads.add(socket);
    res.once('close', () => longUploads.delete(socket));
  }

  // Upgrades: only pod exec (pod-proxy.ts). The socket counts as serving a request while the
  // session lasts, so the connection caps never close it to make room.
  const execUpgrade = podExecUpgrade({ kv, logger, ...(options.pki ? { ca: options.pki.ca.cert } : {}) });
  const upgraded = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    guard.requestStarted(socket);
    upgraded.add(socket);
    socket.once('close', () => {
      upgraded.delete(socket);
      guard.requestEnded(socket);
    });
    execUpgrade(req, socket, head).catch((err: unknown) => writeSocketError(socket, err));
  });

  // Sockets and how many requests each is serving, so close() can drop the unused ones
  // (closeIdleConnections() misses a socket that never sent a request).
  const sockets = new Map<Socket, number>();
  server.on(connectionEvent, (socket: Socket) => {
    sockets.set(socket, 0);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    sockets.set(socket, (sockets.get(socket) ?? 0) + 1);
    guard.requestStarted(socket);
    current.set(socket, res);
    res.once('close', () => {
      if (sockets.has(socket)) sockets.set(socket, Math.max(0, sockets.get(socket)! - 1));
      guard.requestEnded(socket);
      if (current.get(socket) === res) current.delete(socket);
    });
  });

  return {
    server,
    connections: guard,
    registry,
    handle,
    setControlHandlers(handlers) {
      control = handlers;
    },
    listen(listenOptions = {}) {
      const host = listenOptions.host ?? '127.0.0.1';
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(listenOptions.port ?? 0, host, listenOptions.backlog ?? 4096, () => {
          server.off('error', onError);
          const port = (server.address() as AddressInfo).port;
          const shown = host.includes(':') ? `[${host}]` : host;
          const scheme = tls ? 'https' : 'http';
          logger.info({ host, port, scheme }, 'API server listening');
          resolve({ url: `${scheme}://${shown}:${port}`, host, port });
        });
      });
    },
    async close() {
      shutdown.abort(); // ends watch streams
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
      await Promise.allSettled([...streams]);
      // Ended streams leave keep-alive connections behind; close them now, not after the keep-alive timeout.
      server.closeIdleConnections();
      for (const [socket, active] of sockets) if (active === 0) socket.destroy();
      for (const socket of upgraded) socket.destroy();
      await closed;
      guard.close();
    },
  };
}
