// Listeners for one Service port: an HTTP reverse proxy (keep-alive pools to backends,
// streaming both ways) or a plain TCP relay. Each request asks the port's current picker for
// a backend, so table changes apply to the next request and never to one in flight.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CapstanError } from '../common/index.js';
import type { RouterMetrics } from './metrics.js';
import type { BackendPool } from './pool.js';
import type { Picker, PortProtocol } from './table.js';

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

/** A copy of `headers` without hop-by-hop fields, including those the Connection field names. */
export function stripHopByHop(headers: Headers): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const conn = headers.connection;
  const named =
    conn === undefined
      ? undefined
      : new Set(
          String(conn)
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter((s) => s !== ''),
        );
  for (const key in headers) {
    if (HOP_BY_HOP.has(key) || named?.has(key)) continue;
    const v = headers[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export interface ListenerOptions {
  /** `<namespace>/<name>`: the label on metrics. */
  service: string;
  protocol: PortProtocol;
  host: string;
  /** 0: any free port (tests). */
  port: number;
  /** The port's current picker; undefined while the Service has no table. */
  picker: () => Picker | undefined;
  pool: BackendPool;
  metrics: RouterMetrics;
  logger: Logger;
  /** A backend that sends nothing for this long fails the request with 504 (default 60 s). */
  timeoutMs?: number;
  /** TCP: a backend that does not accept within this long fails the connection (default 5 s). */
  connectTimeoutMs?: number;
}

export interface Listener {
  readonly protocol: PortProtocol;
  start(): Promise<AddressInfo>;
  /** `host:port` once started. */
  address(): string | undefined;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

function listen(server: net.Server, host: string, port: number, service: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new CapstanError('CAPSTAN_ERR_ROUTER_LISTEN', `the router could not listen on ${host}:${port} for ${service}: ${err.message}`, {
          cause: err,
          context: { service, host, port },
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function formatAddress(a: AddressInfo | undefined): string | undefined {
  if (a === undefined) return undefined;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export class HttpListener implements Listener {
  readonly protocol = 'http' as const;
  private readonly server: http.Server;
  private bound: AddressInfo | undefined;
  private inFlight = 0;
  private readonly timeoutMs: number;

  constructor(private readonly options: ListenerOptions) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  async start(): Promise<AddressInfo> {
    this.bound = await listen(this.server, this.options.host, this.options.port, this.options.service);
    return this.bound;
  }

  address(): string | undefined {
    return formatAddress(this.bound);
  }

  async close(graceMs: number): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = performance.now() + graceMs;
    while (this.inFlight > 0 && performance.now() < deadline) {
      await sleep(10);
      this.server.closeIdleConnections();
    }
    this.server.closeAllConnections();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const start = performance.now();
    const { service, pool, metrics } = this.options;
    const endpoint = this.options.picker()?.pick(req.headers);
    if (endpoint === undefined) {
      // No revision to charge it to: visible to the client, not in any revision's error rate.
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`no ready endpoint for service ${service}\n`);
      return;
    }
    this.inFlight++;
    const lease = pool.acquire(endpoint.id);
    let done = false;
    const finish = (code: number, error: boolean): void => {
      if (done) return;
      done = true;
      this.inFlight--;
      lease.release();
      metrics.observe({ service, revision: endpoint.revision, seconds: (performance.now() - start) / 1000, error, code });
    };

    const headers = stripHopByHop(req.headers);
    const peer = req.socket.remoteAddress ?? '';
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined || prior === '' ? peer : `${String(prior)}, ${peer}`;
    if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';

    const upstream = http.request({
      agent: lease.agent,
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      headers,
    });
    let timedOut = false;
    upstream.setTimeout(this.timeoutMs, () => {
      timedOut = true;
      upstream.destroy(new Error(`backend ${endpoint.id} sent nothing for ${this.timeoutMs} ms`));
    });

    upstream.on('response', (ur) => {
      const code = ur.statusCode ?? 502;
      res.writeHead(code, ur.statusMessage, stripHopByHop(ur.headers));
      ur.pipe(res);
      ur.on('error', () => {
        // The backend broke off mid-body: the client cannot get a whole response.
        res.destroy();
        finish(code, true);
      });
      res.on('finish', () => finish(code, code >= 500));
    });

    upstream.on('error', (err) => {
      // Already accounted for (the client left first, or the body broke off).
      if (done) return;
      const code = timedOut ? 504 : 502;
      if (!res.headersSent) {
        res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end(`${timedOut ? 'backend timed out' : 'backend unreachable'}: ${endpoint.id}\n`);
      } else {
        res.destroy();
      }
      this.options.logger.debug({ service, backend: endpoint.id, err: err.message }, 'proxied request failed');
      finish(code, true);
    });

    res.on('close', () => {
      if (done) return;
      // The client went away first (nginx's 499): not the backend's error.
      upstream.destroy();
      finish(499, false);
    });

    // Most requests have no body: end at once instead of waiting for the stream to finish.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      req.resume();
      upstream.end();
    } else {
      req.pipe(upstream);
    }
  }
}

export class TcpListener implements Listener {
  readonly protocol = 'tcp' as const;
  private readonly server: net.Server;
  private bound: AddressInfo | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly options: ListenerOptions) {
    // Half-open both ways, so a client that sends and then shuts its side still gets the reply.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.handle(socket));
  }

  async start(): Promise<AddressInfo> {
    this.bound = await listen(this.server, this.options.host, this.options.port, this.options.service);
    return this.bound;
  }

  address(): string | undefined {
    return formatAddress(this.bound);
  }

  async close(graceMs: number): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = performance.now() + graceMs;
    while (this.sockets.size > 0 && performance.now() < deadline) await sleep(10);
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private handle(client: net.Socket): void {
    const start = performance.now();
    const { service, pool, metrics } = this.options;
    const endpoint = this.options.picker()?.pick({});
    if (endpoint === undefined) {
      client.destroy();
      return;
    }
    this.sockets.add(client);
    const lease = pool.acquire(endpoint.id);
    let connected = false;
    let done = false;
    const upstream = net.connect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true });
    const finish = (error: boolean): void => {
      if (done) return;
      done = true;
      this.sockets.delete(client);
      lease.release();
      metrics.observe({ service, revision: endpoint.revision, seconds: (performance.now() - start) / 1000, error, code: 0 });
    };
    upstream.setTimeout(this.options.connectTimeoutMs ?? 5000, () => upstream.destroy(new Error('connect timeout')));
    upstream.on('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', (err) => {
      if (!connected) this.options.logger.debug({ service, backend: endpoint.id, err: err.message }, 'backend connection failed');
      client.destroy();
      finish(!connected);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => {
      client.destroy();
      finish(!connected);
    });
    client.on('close', () => {
      // The client leaving is not the backend's failure.
      upstream.destroy();
      finish(false);
    });
  }
}

export function createListener(options: ListenerOptions): Listener {
  return options.protocol === 'tcp' ? new TcpListener(options) : new HttpListener(options);
}
