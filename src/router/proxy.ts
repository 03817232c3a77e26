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
import type { MetricsSink, Recorder } from './metrics.js';
import type { BackendPool, Lease } from './pool.js';
import type { Endpoint, Picker, PortProtocol, RequestHeaders } from './table.js';

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
interface RawScan {
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
  /** TCP: a backend that does not accept within this long fails the connection (default 5 s). */
  connectTimeoutMs?: number;
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

// Per-request state lives on one object, and the event handlers are module functions that
// find it through a symbol on the emitter: no closures allocated per request.
const kExchange = Symbol('capstan.exchange');
type Tagged<T> = T & { [kExchange]?: Exchange };

class Exchange {
  done = false;
  timedOut = false;
  code = 0;
  upstream: http.ClientRequest | undefined;
  body: http.IncomingMessage | undefined;

  constructor(
    readonly listener: HttpListener,
    readonly res: http.ServerResponse,
    readonly endpoint: Endpoint,
    readonly lease: Lease,
    readonly recorder: Recorder,
    readonly start: number,
  ) {}

  finish(code: number, error: boolean): void {
    if (this.done) return;
    this.done = true;
    this.listener.inFlight--;
    this.lease.release();
    this.recorder.record((performance.now() - this.start) / 1000, error, code);
  }
}

function exchangeOf(emitter: object): Exchange {
  return (emitter as Tagged<object>)[kExchange] as Exchange;
}

function onUpstreamResponse(this: http.ClientRequest, ur: http.IncomingMessage): void {
  const ex = exchangeOf(this);
  const code = ur.statusCode ?? 502;
  ex.code = code;
  ex.body = ur;
  (ur as Tagged<http.IncomingMessage>)[kExchange] = ex;
  ex.res.writeHead(code, ur.statusMessage, forwardRaw(ur.rawHeaders));
  // Streamed chunk by chunk with backpressure (what pipe does, with fewer listeners).
  ur.on('data', onBodyData);
  ur.on('end', onBodyEnd);
  ur.on('error', onBodyError);
  ex.res.on('drain', onClientDrain);
  ex.res.on('finish', onClientFinish);
}

function onBodyData(this: http.IncomingMessage, chunk: Buffer): void {
  if (!exchangeOf(this).res.write(chunk)) this.pause();
}

function onBodyEnd(this: http.IncomingMessage): void {
  exchangeOf(this).res.end();
}

function onBodyError(this: http.IncomingMessage): void {
  // The backend broke off mid-body: the client cannot get a whole response.
  const ex = exchangeOf(this);
  ex.res.destroy();
  ex.finish(ex.code, true);
}

function onClientDrain(this: http.ServerResponse): void {
  exchangeOf(this).body?.resume();
}

function onClientFinish(this: http.ServerResponse): void {
  const ex = exchangeOf(this);
  ex.finish(ex.code, ex.code >= 500);
}

function onUpstreamTimeout(this: http.ClientRequest): void {
  const ex = exchangeOf(this);
  ex.timedOut = true;
  this.destroy(new Error(`backend ${ex.endpoint.id} sent nothing for ${ex.listener.timeoutMs} ms`));
}

function onUpstreamError(this: http.ClientRequest, err: Error): void {
  const ex = exchangeOf(this);
  // Already accounted for (the client left first, or the body broke off).
  if (ex.done) return;
  const code = ex.timedOut ? 504 : 502;
  const res = ex.res;
  if (!res.headersSent) {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`${ex.timedOut ? 'backend timed out' : 'backend unreachable'}: ${ex.endpoint.id}\n`);
  } else {
    res.destroy();
  }
  ex.listener.logFailure(ex.endpoint, err);
  ex.finish(code, true);
}

function onClientClose(this: http.ServerResponse): void {
  const ex = exchangeOf(this);
  if (ex.done) return;
  // The client went away first (nginx's 499): not the backend's error.
  ex.upstream?.destroy();
  ex.finish(499, false);
}

function onClientError(err: Error, socket: stream.Duplex): void {
  void err;
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
}

const NO_HEADERS: RequestHeaders = Object.freeze({});

export class HttpListener extends BaseListener {
  readonly protocol = 'http' as const;
  /** @internal */
  inFlight = 0;
  /** @internal */
  readonly timeoutMs: number;
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
    const endpoint = picker?.pick(picker.table.routes.length === 0 ? NO_HEADERS : req.headers);
    if (endpoint === undefined) {
      // No revision to charge it to: visible to the client, not in any revision's error rate.
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`no ready endpoint for service ${service}\n`);
      return;
    }
    this.inFlight++;
    const lease = this.options.pool.acquire(endpoint.id);
    const ex = new Exchange(this, res, endpoint, lease, this.recorderFor(service, endpoint.revision), start);

    const scan: RawScan = { body: false };
    const headers = forwardRaw(req.rawHeaders, req.socket.remoteAddress ?? '', scan, this.options.tls === undefined ? 'http' : 'https');
    // A mirror route copies the request to another backend; the client's answer never waits for it.
    const mirrorTo = picker!.table.mirrors.length === 0 ? undefined : picker!.mirrorFor(req.method ?? 'GET', req.url ?? '/', req.headers);
    if (mirrorTo !== undefined) this.mirror(mirrorTo, req, headers, scan.body);
    const upstream = http.request({
      agent: lease.agent,
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      headers,
      timeout: this.timeoutMs,
    });
    ex.upstream = upstream;
    (upstream as Tagged<http.ClientRequest>)[kExchange] = ex;
    (res as Tagged<http.ServerResponse>)[kExchange] = ex;
    upstream.on('timeout', onUpstreamTimeout);
    upstream.on('response', onUpstreamResponse);
    upstream.on('error', onUpstreamError);
    res.on('close', onClientClose);

    // Most requests have no body: end at once instead of waiting for the stream to finish.
    if (!scan.body) {
      req.resume();
      upstream.end();
    } else {
      req.pipe(upstream);
    }
  }
}

export class TcpListener extends BaseListener {
  readonly protocol = 'tcp' as const;
  private readonly sockets = new Set<net.Socket>();

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
