// Listeners for one Service port: an HTTP reverse proxy (keep-alive pools to backends,
// streaming both ways) or a plain TCP relay. Each request asks the port's current picker for
// a backend, so table changes apply to the next request and never to one in flight.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CapstanError } from '../common/index.js';
import type stream from 'node:stream';
import { BodyMode, Exchange, type ExchangeHost } from './exchange.js';
import { forwardRaw, type RawScan } from './headers.js';
import type { MetricsSink, Recorder } from './metrics.js';
import { Ejections } from './outlier.js';
import type { BackendPool } from './pool.js';
import type { Endpoint, Picker, PortProtocol, RequestHeaders } from './table.js';

export { forwardRaw, stripHopByHop } from './headers.js';

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
  metrics: MetricsSink;
  logger: Logger;
  /** A backend that sends nothing for this long fails the request with 504 (default 60 s). */
  timeoutMs?: number;
  /**
   * TCP: a backend that does not accept a connection within this long is ejected and the next
   * endpoint of the revision is tried (default 5 s). HTTP connections take the pool's.
   */
  connectTimeoutMs?: number;
  /** Further endpoints of the same revision tried after a failed connect (default 2). */
  retries?: number;
  /** Backends whose connect failed lately, shared by every listener of a router (default: the listener's own). */
  ejections?: Ejections;
  /**
   * HTTP: chooses the Service per request (the Ingress listener): its picker and its
   * `<namespace>/<name>`, the label its figures are counted under. Undefined: 404.
   */
  resolve?: (req: http.IncomingMessage) => { picker: Picker | undefined; service: string } | undefined;
  /** HTTP: serve HTTPS with these TLS options (an SNICallback picking the certificate). */
  tls?: Pick<https.ServerOptions, 'SNICallback'>;
  /** HTTP: a mirrored copy still unanswered after this long is cut (default 10 s). */
  mirrorTimeoutMs?: number;
  /** HTTP: request bodies larger than this are not mirrored (default 1 MiB). */
  mirrorBodyLimit?: number;
}

/** Mirrored copies in flight per listener; more are dropped, not queued. */
const MAX_MIRRORS = 64;

export interface Listener {
  readonly protocol: PortProtocol;
  start(): Promise<AddressInfo>;
  /** `host:port` once started. */
  address(): string | undefined;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

export function listen(server: net.Server, host: string, port: number, service: string): Promise<AddressInfo> {
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

export function formatAddress(a: AddressInfo | undefined): string | undefined {
  if (a === undefined) return undefined;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Start, address and close for either kind of listener; the subclass says what is in flight. */
abstract class BaseListener implements Listener {
  abstract readonly protocol: PortProtocol;
  private bound: AddressInfo | undefined;
  /** Connections come from `accept` (a worker process), not from listening. */
  protected fed = false;

  constructor(
    protected readonly options: ListenerOptions,
    protected readonly server: net.Server,
  ) {}

  async start(): Promise<AddressInfo> {
    this.bound = await listen(this.server, this.options.host, this.options.port, this.options.service);
    return this.bound;
  }

  address(): string | undefined {
    return formatAddress(this.bound);
  }

  async close(graceMs: number): Promise<void> {
    // A listener fed connections by another process (worker.ts) never listened itself.
    if (!this.server.listening && !this.fed) return;
    this.fed = false;
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    this.closeIdle();
    const deadline = performance.now() + graceMs;
    while (this.busy() && performance.now() < deadline) {
      await sleep(10);
      this.closeIdle();
    }
    this.closeAll();
    await closed;
  }

  /** Whether a request or connection is still in flight. */
  protected abstract busy(): boolean;
  /** While draining: close connections that carry nothing. */
  protected abstract closeIdle(): void;
  /** Past the grace: cut whatever is left. */
  protected abstract closeAll(): void;
}

function onClientError(err: Error, socket: stream.Duplex): void {
  void err;
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
}

const NO_HEADERS: RequestHeaders = Object.freeze({});

export class HttpListener extends BaseListener implements ExchangeHost {
  readonly protocol = 'http' as const;
  /** @internal */
  inFlight = 0;
  /** @internal */
  readonly timeoutMs: number;
  /** @internal */
  readonly retries: number;
  /** @internal */
  readonly pool: BackendPool;
  /** @internal */
  readonly ejections: Ejections;
  /** Recorder per revision, so a request does no metrics label lookup. */
  private readonly recorders = new Map<string, Recorder>();
  /** Mirrored copies in flight (never counted as busy: a drain does not wait for them). */
  private readonly mirrors = new Set<http.ClientRequest>();
  private mirrorAgent: http.Agent | undefined;

  constructor(options: ListenerOptions) {
    super(
      options,
      options.tls === undefined ? http.createServer({ keepAlive: true, noDelay: true }) : https.createServer({ ...options.tls, keepAlive: true, noDelay: true }),
    );
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retries = options.retries ?? 2;
    this.pool = options.pool;
    this.ejections = options.ejections ?? new Ejections();
    const server = this.server as http.Server;
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res));
    server.on('clientError', onClientError);
  }

  /**
   * Serves a connection accepted elsewhere (the primary process hands it to a worker): the
   * listener then works as if it had accepted it, without listening itself.
   */
  accept(socket: net.Socket): void {
    if (!this.fed) {
      this.fed = true;
      // Node tracks a server's connections (for closeIdleConnections) from 'listening' on.
      if (!this.server.listening) this.server.emit('listening');
    }
    this.server.emit('connection', socket);
  }

  protected busy(): boolean {
    return this.inFlight > 0;
  }

  protected closeIdle(): void {
    (this.server as http.Server).closeIdleConnections();
  }

  protected closeAll(): void {
    (this.server as http.Server).closeAllConnections();
    for (const m of this.mirrors) m.destroy();
    this.mirrors.clear();
    this.mirrorAgent?.destroy();
    this.mirrorAgent = undefined;
  }

  /** Mirrored copies in flight now. */
  mirrorsInFlight(): number {
    return this.mirrors.size;
  }

  /**
   * Copies a request to a mirror backend, fire-and-forget: the body is buffered up to the
   * limit (a larger one is not mirrored), the answer is read and dropped, errors are ignored.
   * Nothing here touches the client's exchange.
   */
  private mirror(endpoint: Endpoint, req: http.IncomingMessage, headers: string[], hasBody: boolean): void {
    if (this.mirrors.size >= MAX_MIRRORS) return;
    const limit = this.options.mirrorBodyLimit ?? 1024 * 1024;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() !== 'content-length') out.push(headers[i], headers[i + 1]);
    out.push('x-capstan-mirror', 'true');
    if (!hasBody) {
      this.sendMirror(endpoint, method, path, out, undefined);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return;
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        req.off('data', onData);
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!over) this.sendMirror(endpoint, method, path, out, Buffer.concat(chunks));
    });
  }

  private sendMirror(endpoint: Endpoint, method: string, path: string, headers: string[], body: Buffer | undefined): void {
    if (this.mirrors.size >= MAX_MIRRORS || !this.server.listening) return;
    if (body !== undefined) headers.push('content-length', String(body.length));
    this.mirrorAgent ??= new http.Agent({ keepAlive: true, maxSockets: MAX_MIRRORS });
    const m = http.request({ agent: this.mirrorAgent, host: endpoint.host, port: endpoint.port, method, path, headers, timeout: this.options.mirrorTimeoutMs ?? 10_000 });
    this.mirrors.add(m);
    const done = (): void => {
      this.mirrors.delete(m);
    };
    m.on('response', (r: http.IncomingMessage) => {
      r.on('end', done);
      r.on('error', done);
      r.resume();
    });
    m.on('timeout', () => m.destroy());
    m.on('error', done);
    m.on('close', done);
    m.end(body);
  }

  /** @internal */
  logFailure(endpoint: Endpoint, err: Error): void {
    this.options.logger.debug({ service: this.options.service, backend: endpoint.id, err: err.message }, 'proxied request failed');
  }

  private recorderFor(service: string, revision: string): Recorder {
    const key = service === this.options.service ? revision : `${service}\u0000${revision}`;
    let r = this.recorders.get(key);
    if (r === undefined) {
      r = this.options.metrics.recorder(service, revision);
      this.recorders.set(key, r);
    }
    return r;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const start = performance.now();
    let picker: Picker | undefined;
    let service = this.options.service;
    if (this.options.resolve !== undefined) {
      const chosen = this.options.resolve(req);
      if (chosen === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('no Ingress rule matches this host and path\n');
        return;
      }
      picker = chosen.picker;
      service = chosen.service;
    } else {
      picker = this.options.picker();
    }
    // Headers are only parsed into an object when a header or cookie route needs them.
    const revision = picker?.chooseRevision(picker.table.routes.length === 0 ? NO_HEADERS : req.headers);
    const endpoint = revision === undefined ? undefined : picker!.endpointAvoiding(revision, undefined, this.ejections);
    if (endpoint === undefined) {
      // No revision to charge it to: visible to the client, not in any revision's error rate.
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`no ready endpoint for service ${service}\n`);
      return;
    }
    this.inFlight++;
    const scan: RawScan = { body: false };
    const headers = forwardRaw(req.rawHeaders, req.socket.remoteAddress ?? '', scan, this.options.tls === undefined ? 'http' : 'https');
    // A mirror route copies the request to another backend; the client's answer never waits for it.
    const mirrorTo = picker!.table.mirrors.length === 0 ? undefined : picker!.mirrorFor(req.method ?? 'GET', req.url ?? '/', req.headers);
    if (mirrorTo !== undefined) this.mirror(mirrorTo, req, headers, scan.body);
    // A mirror reads the body at once, so the upstream must too; otherwise the body waits for a connected backend.
    const mode = !scan.body ? BodyMode.None : mirrorTo !== undefined ? BodyMode.Piped : BodyMode.Deferred;
    const lease = this.pool.acquire(endpoint.id);
    const ex = new Exchange(this, req, res, picker!, service, endpoint, lease, this.recorderFor(service, endpoint.revision), start, headers, mode);
    // Most requests have no body: the client's side is drained and the upstream ended at once.
    if (mode === BodyMode.None) req.resume();
    ex.send();
  }
}

export class TcpListener extends BaseListener {
  readonly protocol = 'tcp' as const;
  private readonly sockets = new Set<net.Socket>();
  private readonly ejections = new Ejections();

  constructor(options: ListenerOptions) {
    // Half-open both ways, so a client that sends and then shuts its side still gets the reply.
    super(options, net.createServer({ allowHalfOpen: true }));
    this.server.on('connection', (socket: net.Socket) => this.handle(socket));
  }

  protected busy(): boolean {
    return this.sockets.size > 0;
  }

  protected closeIdle(): void {
    // A TCP relay cannot tell an idle connection from a quiet one: it waits out the grace.
  }

  protected closeAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private handle(client: net.Socket): void {
    const start = performance.now();
    const { service, pool, metrics, logger } = this.options;
    const picker = this.options.picker();
    const revision = picker?.chooseRevision(NO_HEADERS);
    const ejections = this.options.ejections ?? this.ejections;
    let endpoint = revision === undefined ? undefined : picker!.endpointAvoiding(revision, undefined, ejections);
    if (endpoint === undefined) {
      client.destroy();
      return;
    }
    this.sockets.add(client);
    let lease = pool.acquire(endpoint.id);
    let upstream: net.Socket;
    let connected = false;
    let done = false;
    const tried: Endpoint[] = [];
    const finish = (error: boolean): void => {
      if (done) return;
      done = true;
      this.sockets.delete(client);
      lease.release();
      metrics.observe({ service, revision: endpoint!.revision, seconds: (performance.now() - start) / 1000, error, code: 0 });
    };
    // Nothing the client sent is read before a backend accepted: a failed connect moves on to
    // another endpoint of the same revision with nothing lost.
    const attempt = (): void => {
      const target = endpoint!;
      const u = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
      upstream = u;
      u.setTimeout(this.options.connectTimeoutMs ?? 5000, () => u.destroy(new Error('connect timeout')));
      u.on('connect', () => {
        connected = true;
        ejections.succeeded(target.id);
        u.setTimeout(0);
        client.pipe(u);
        u.pipe(client);
      });
      u.on('error', (err) => {
        if (connected || done || upstream !== u) return;
        logger.debug({ service, backend: target.id, err: err.message }, 'backend connection failed');
        ejections.failed(target.id);
        tried.push(target);
        const next = tried.length > (this.options.retries ?? 2) ? undefined : picker!.endpointAvoiding(target.revision, tried, ejections);
        if (next === undefined) return;
        lease.release();
        endpoint = next;
        lease = pool.acquire(next.id);
        attempt();
      });
      u.on('close', () => {
        if (upstream !== u) return;
        client.destroy();
        finish(!connected);
      });
    };
    attempt();
    client.on('error', () => upstream.destroy());
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
