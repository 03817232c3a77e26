// The node agent's own HTTP port (as the kubelet's): pod logs and exec, called by the API
// server only. Every request must carry the node's proxy secret as a bearer token (handed
// to the agent in its register and heartbeat answers); it is compared in constant time and
// anything else is 401.
//   GET  /pods/<ns>/<pod>/containers/<c>/logs?follow=&previous=&sinceSeconds=&tailLines=&timestamps=
//   POST /pods/<ns>/<pod>/containers/<c>/exec?command=..&tty=&stdin=  (Upgrade: capstan-exec.v1 → 101, then frames)
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { CapstanError, isCapstanError, silentLogger, type ErrorCode, type Logger } from '../common/index.js';
import { DockerRuntime } from './docker-runtime.js';
import { EXEC_PROTOCOL } from './exec-frames.js';
import { dockerExec, parseExecQuery, processExec, pumpExec, type ExecSession } from './exec.js';
import { dockerLogs, parseLogQuery, readLogFile, type LogOptions } from './logs.js';
import type { PodManager } from './pod-manager.js';
import { ProcessRuntime } from './process-runtime.js';
import type { ContainerHandle, RuntimeDriver } from './runtime.js';

export interface AgentServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: one the kernel picks). */
  port?: number;
  /** The node's current proxy secret; undefined (before registration) refuses everything. */
  secret: () => string | undefined;
  pods: Pick<PodManager, 'worker'>;
  driver: RuntimeDriver;
  node: string;
  logger?: Logger;
  /** Serve HTTPS with the node's certificate (the API server checks it names this node). */
  tls?: { cert: string; key: string };
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  CAPSTAN_ERR_AGENT_PROXY_AUTH: 401,
  CAPSTAN_ERR_API_BAD_REQUEST: 400,
  CAPSTAN_ERR_AGENT_EXEC: 400,
  CAPSTAN_ERR_AGENT_CONTAINER_NOT_FOUND: 404,
  CAPSTAN_ERR_API_NOT_FOUND: 404,
  CAPSTAN_ERR_API_METHOD_NOT_ALLOWED: 405,
  CAPSTAN_ERR_API_NOT_IMPLEMENTED: 501,
};

function fail(code: ErrorCode, message: string): CapstanError {
  return new CapstanError(code, message);
}

function errorBody(err: unknown): { status: number; body: string } {
  const status = isCapstanError(err) ? (STATUS[err.code] ?? 500) : 500;
  const error = isCapstanError(err) ? { code: err.code, message: err.message } : { code: 'CAPSTAN_ERR_INTERNAL_ERROR', message: 'internal agent error' };
  return { status, body: JSON.stringify({ error }) };
}

/** Whether `header` is `Bearer <secret>`; constant time in the secret's content. */
export function bearerMatches(header: string | undefined, secret: string | undefined): boolean {
  if (secret === undefined || secret === '' || header === undefined) return false;
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

interface Target {
  namespace: string;
  pod: string;
  container: string;
  action: 'logs' | 'exec';
}

function parsePath(pathname: string): Target | undefined {
  const parts = pathname.split('/').filter(Boolean);
  if (parts.length !== 6 || parts[0] !== 'pods' || parts[3] !== 'containers') return undefined;
  if (parts[5] !== 'logs' && parts[5] !== 'exec') return undefined;
  try {
    return { namespace: decodeURIComponent(parts[1]!), pod: decodeURIComponent(parts[2]!), container: decodeURIComponent(parts[4]!), action: parts[5] };
  } catch {
    return undefined;
  }
}

export class AgentServer {
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly sockets = new Set<Duplex>();
  private readonly streams = new Set<AbortController>();

  constructor(private readonly options: AgentServerOptions) {
    this.logger = (options.logger ?? silentLogger()).child({ component: 'agent-server', node: options.node });
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.request(req, res).catch((err: unknown) => this.replyError(res, err));
    };
    const timeouts = { headersTimeout: 10_000, requestTimeout: 30_000 };
    this.server = options.tls ? createHttpsServer({ ...timeouts, cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, handler) : createServer(timeouts, handler);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err: unknown) => rawError(socket, err));
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Whether the port serves TLS. */
  get https(): boolean {
    return this.options.tls !== undefined;
  }

  /** A renewed node certificate, for connections from now on. */
  setCertificate(tls: { cert: string; key: string }): void {
    if (this.options.tls) (this.server as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /** Binds the port; resolves with where it listens. */
  listen(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off('error', reject);
        const port = (this.server.address() as AddressInfo).port;
        this.logger.info({ host, port }, 'agent port listening');
        resolve({ host, port });
      });
    });
  }

  /** Ends log streams and exec sessions and closes the port. */
  async close(): Promise<void> {
    for (const c of this.streams) c.abort();
    const closed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private authorize(req: IncomingMessage): void {
    if (!bearerMatches(req.headers.authorization, this.options.secret())) {
      throw fail('CAPSTAN_ERR_AGENT_PROXY_AUTH', 'this port answers the API server only: send the node proxy secret as "Authorization: Bearer <secret>"');
    }
  }

  /** The container's handles, or a not-found error in kubectl's words. */
  private handles(t: Target): { current?: ContainerHandle; previous?: ContainerHandle; running: boolean } {
    const worker = this.options.pods.worker(t.namespace, t.pod);
    if (worker === undefined) throw fail('CAPSTAN_ERR_AGENT_CONTAINER_NOT_FOUND', `pod ${t.namespace}/${t.pod} is not running on node ${this.options.node}`);
    const handles = worker.containerHandles(t.container);
    if (handles === undefined) {
      throw fail('CAPSTAN_ERR_AGENT_CONTAINER_NOT_FOUND', `container ${t.container} is not valid for pod ${t.pod}; choose one of: [${worker.containerNames().join(' ')}]`);
    }
    return handles;
  }

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const target = parsePath(url.pathname);
    this.authorize(req);
    if (target === undefined) throw fail('CAPSTAN_ERR_API_NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
    if (target.action === 'exec') throw fail('CAPSTAN_ERR_AGENT_EXEC', `exec needs POST with "Connection: Upgrade" and "Upgrade: ${EXEC_PROTOCOL}"`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('CAPSTAN_ERR_API_METHOD_NOT_ALLOWED', `${req.method} is not allowed on logs`);
    const options = parseLogQuery(url.searchParams);
    const handles = this.handles(target);
    const handle = options.previous ? handles.previous : handles.current;
    if (handle === undefined) {
      throw fail(
        'CAPSTAN_ERR_AGENT_CONTAINER_NOT_FOUND',
        options.previous
          ? `previous terminated container "${target.container}" in pod "${target.pod}" not found`
          : `container "${target.container}" in pod "${target.pod}" is waiting to start`,
      );
    }
    const abort = new AbortController();
    this.streams.add(abort);
    res.once('close', () => {
      abort.abort();
      this.streams.delete(abort);
    });
    const { stream, warnings } = await this.logStream(handle, options, handles.running && handle === handles.current, abort.signal);
    if (options.follow) req.socket.setTimeout(0); // a quiet container is not an idle client
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(warnings.length > 0 ? { warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } : {}),
    });
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      stream.on('error', (err) => {
        this.logger.warn({ err, pod: `${target.namespace}/${target.pod}` }, 'log stream failed');
        res.destroy();
        resolve();
      });
      stream.on('end', () => {
        res.end();
        resolve();
      });
      res.once('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res, { end: false });
    });
  }

  private async logStream(handle: ContainerHandle, options: LogOptions, live: boolean, signal: AbortSignal): Promise<{ stream: Readable; warnings: string[] }> {
    const driver = this.options.driver;
    if (driver instanceof DockerRuntime) return { stream: await dockerLogs(driver.docker, handle.id, options, signal), warnings: [] };
    const path = driver.logsPath(handle);
    if (path === undefined) throw fail('CAPSTAN_ERR_API_NOT_IMPLEMENTED', `the ${driver.name} runtime keeps no logs this agent can read`);
    const warnings: string[] = [];
    if (options.sinceSeconds !== undefined) warnings.push('the process runtime keeps no time per line: sinceSeconds is ignored');
    if (options.timestamps) warnings.push('the process runtime keeps no time per line: timestamps are not shown');
    const follow = {
      signal,
      isRunning: async () => live && (await driver.inspect(handle)).running,
    };
    return { stream: Readable.from(readLogFile(path, options, follow)), warnings };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://agent');
    const target = parsePath(url.pathname);
    this.authorize(req);
    if (target?.action !== 'exec') throw fail('CAPSTAN_ERR_API_NOT_FOUND', `no upgrade route for ${req.method} ${url.pathname}`);
    if (req.method !== 'POST') throw fail('CAPSTAN_ERR_API_METHOD_NOT_ALLOWED', 'exec takes POST');
    if ((req.headers.upgrade ?? '').toLowerCase() !== EXEC_PROTOCOL) throw fail('CAPSTAN_ERR_AGENT_EXEC', `exec speaks ${EXEC_PROTOCOL} only`);
    const request = parseExecQuery(url.searchParams);
    const handles = this.handles(target);
    if (!handles.running || handles.current === undefined) {
      throw fail('CAPSTAN_ERR_AGENT_EXEC', `container ${target.container} in pod ${target.pod} is not running; exec needs a running container`);
    }
    const driver = this.options.driver;
    let session: ExecSession;
    if (driver instanceof DockerRuntime) session = await dockerExec(driver.docker, handles.current.id, request);
    else if (driver instanceof ProcessRuntime) session = processExec(driver, handles.current, request);
    else throw fail('CAPSTAN_ERR_API_NOT_IMPLEMENTED', `the ${driver.name} runtime has no exec`);
    if (socket.destroyed) {
      session.kill();
      return;
    }
    // Quiet sessions are normal (a shell waiting for input).
    (socket as Socket).setTimeout?.(0);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${EXEC_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
    this.logger.info({ pod: `${target.namespace}/${target.pod}`, container: target.container, program: request.command[0], tty: request.tty }, 'exec started');
    const abort = new AbortController();
    this.streams.add(abort);
    abort.signal.addEventListener('abort', () => socket.destroy(), { once: true });
    const outcome = await pumpExec(socket, head, session, this.logger);
    this.streams.delete(abort);
    this.logger.info({ pod: `${target.namespace}/${target.pod}`, container: target.container, ...outcome }, 'exec ended');
  }

  private replyError(res: ServerResponse, err: unknown): void {
    const { status, body } = errorBody(err);
    if (status >= 500) this.logger.error({ err }, 'agent request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  }
}

const REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error', 501: 'Not Implemented' };

/** An error answer written on a socket that was not upgraded, then closed. */
function rawError(socket: Duplex, err: unknown): void {
  const { status, body } = errorBody(err);
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
