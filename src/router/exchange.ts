// One proxied HTTP request: its state lives on one object, and the event handlers are module
// functions that find it through a symbol on the emitter (no closures per request).
//
// Failover: the revision is chosen once per request; when the connect to its endpoint fails
// (refused, unreachable, reset or no answer within the pool's connect timeout, pool.ts: a
// connect-phase error, `syscall: 'connect'`), the endpoint is
// ejected (outlier.ts) and the request goes to another endpoint of the SAME revision, up to
// `retries` more. Nothing of the request has reached a backend whose connect failed: a request
// body is only read from the client once the backend's socket is connected, so it is never
// replayed. The one exception is a request copied to a mirror, whose body is read at once: it
// is not retried. A request that found no reachable endpoint is answered 502 and counted as an
// error of its revision.
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { forwardRaw } from './headers.js';
import type { Recorder } from './metrics.js';
import type { Ejections } from './outlier.js';
import type { BackendPool, Lease } from './pool.js';
import type { Endpoint, Picker } from './table.js';

/** What an exchange needs of its listener. */
export interface ExchangeHost {
  inFlight: number;
  readonly timeoutMs: number;
  /** Further endpoints tried after a failed connect. */
  readonly retries: number;
  readonly pool: BackendPool;
  readonly ejections: Ejections;
  logFailure(endpoint: Endpoint, err: Error): void;
}

/** How the request body travels: none, read once connected, or read at once (mirrored). */
export const BodyMode = { None: 0, Deferred: 1, Piped: 2 } as const;
export type BodyMode = (typeof BodyMode)[keyof typeof BodyMode];

const kExchange = Symbol('capstan.exchange');
type Tagged<T> = T & { [kExchange]?: Exchange };

function exchangeOf(emitter: object): Exchange {
  return (emitter as Tagged<object>)[kExchange] as Exchange;
}

function tag(emitter: object, ex: Exchange): void {
  (emitter as Tagged<object>)[kExchange] = ex;
}

export class Exchange {
  done = false;
  timedOut = false;
  code = 0;
  upstream: http.ClientRequest | undefined;
  body: http.IncomingMessage | undefined;
  drainHooked = false;
  /** Endpoints whose connect failed, in order (undefined until one did). */
  tried: Endpoint[] | undefined;

  constructor(
    readonly host: ExchangeHost,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly picker: Picker,
    readonly service: string,
    public endpoint: Endpoint,
    public lease: Lease,
    readonly recorder: Recorder,
    readonly start: number,
    readonly headers: string[],
    readonly bodyMode: BodyMode,
  ) {
    tag(res, this);
    res.on('close', onClientClose);
  }

  /** Sends the request to `endpoint` (again after a failed connect). */
  send(): void {
    this.timedOut = false;
    const upstream = http.request({
      agent: this.lease.agent,
      host: this.endpoint.host,
      port: this.endpoint.port,
      method: this.req.method,
      path: this.req.url,
      headers: this.headers,
      timeout: this.host.timeoutMs,
    });
    this.upstream = upstream;
    tag(upstream, this);
    // Only a deferred body waits for the connection; other requests need no socket listener.
    if (this.bodyMode === BodyMode.Deferred) upstream.on('socket', onUpstreamSocket);
    upstream.on('timeout', onUpstreamTimeout);
    upstream.on('response', onUpstreamResponse);
    upstream.on('error', onUpstreamError);
    if (this.bodyMode === BodyMode.None) upstream.end();
    else if (this.bodyMode === BodyMode.Piped) this.req.pipe(upstream);
  }

  /** The attempt's socket is connected: a deferred body may flow. */
  onConnected(): void {
    if (this.upstream !== undefined) this.req.pipe(this.upstream);
  }

  /** After a failed connect: the next endpoint of the same revision, or false when none is left. */
  retry(): boolean {
    if (this.bodyMode === BodyMode.Piped || this.res.headersSent || this.res.destroyed) return false;
    const tried = (this.tried ??= []);
    tried.push(this.endpoint);
    if (tried.length > this.host.retries) return false;
    const next = this.picker.endpointAvoiding(this.endpoint.revision, tried, this.host.ejections);
    if (next === undefined) return false;
    this.lease.release();
    this.endpoint = next;
    this.lease = this.host.pool.acquire(next.id);
    this.send();
    return true;
  }

  finish(code: number, error: boolean): void {
    if (this.done) return;
    this.done = true;
    this.host.inFlight--;
    this.lease.release();
    this.recorder.record((performance.now() - this.start) / 1000, error, code);
  }
}

function onUpstreamSocket(this: http.ClientRequest, socket: net.Socket): void {
  const ex = exchangeOf(this);
  if (!socket.connecting) {
    // A kept-alive socket: connected long ago.
    ex.onConnected();
    return;
  }
  tag(socket, ex);
  socket.once('connect', onSocketConnect);
}

function onSocketConnect(this: net.Socket): void {
  const ex = exchangeOf(this);
  // The socket outlives the request; the agent hands it to others later.
  delete (this as Tagged<net.Socket>)[kExchange];
  if (!ex.done && ex.upstream?.socket === this) ex.onConnected();
}

function onUpstreamResponse(this: http.ClientRequest, ur: http.IncomingMessage): void {
  const ex = exchangeOf(this);
  const code = ur.statusCode ?? 502;
  ex.code = code;
  ex.body = ur;
  tag(ur, ex);
  ex.res.writeHead(code, ur.statusMessage, forwardRaw(ur.rawHeaders));
  // Streamed chunk by chunk with backpressure (what pipe does, with fewer listeners).
  ur.on('data', onBodyData);
  ur.on('end', onBodyEnd);
  ur.on('error', onBodyError);
  ex.res.on('finish', onClientFinish);
}

function onBodyData(this: http.IncomingMessage, chunk: Buffer): void {
  const ex = exchangeOf(this);
  if (ex.res.write(chunk)) return;
  this.pause();
  // Only a client that reads slower than the backend sends needs a drain listener.
  if (!ex.drainHooked) {
    ex.drainHooked = true;
    ex.res.on('drain', onClientDrain);
  }
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
  if (ex.upstream !== this) return;
  ex.timedOut = true;
  this.destroy(new Error(`backend ${ex.endpoint.id} sent nothing for ${ex.host.timeoutMs} ms`));
}

function onUpstreamError(this: http.ClientRequest, err: Error): void {
  const ex = exchangeOf(this);
  // Already accounted for (the client left first, or the body broke off), or an earlier attempt.
  if (ex.done || ex.upstream !== this) return;
  ex.host.logFailure(ex.endpoint, err);
  // Nothing reached a backend whose connect failed.
  const connectFailed = !ex.timedOut && (err as NodeJS.ErrnoException).syscall === 'connect';
  if (connectFailed) {
    ex.host.ejections.failed(ex.endpoint.id);
    if (ex.retry()) return;
  }
  const code = ex.timedOut ? 504 : 502;
  const res = ex.res;
  if (!res.headersSent) {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(failureText(ex, connectFailed, err));
  } else {
    res.destroy();
  }
  ex.finish(code, true);
}

function failureText(ex: Exchange, connectFailed: boolean, err: Error): string {
  if (ex.timedOut) return `backend timed out: ${ex.endpoint.id}\n`;
  if (!connectFailed) return `backend unreachable: ${ex.endpoint.id}\n`;
  const tried = ex.tried ?? [ex.endpoint];
  if (tried[tried.length - 1] !== ex.endpoint) tried.push(ex.endpoint);
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === undefined || code === 'ETIMEDOUT' ? err.message : code;
  return (
    `backend unreachable: no endpoint of revision ${ex.endpoint.revision} of service ${ex.service} accepted a connection ` +
    `(tried ${tried.map((e) => e.id).join(', ')}; last: ${reason}); the router skips them for a while and tries again later\n`
  );
}

function onClientClose(this: http.ServerResponse): void {
  const ex = exchangeOf(this);
  if (ex.done) return;
  // The client went away first (nginx's 499): not the backend's error.
  ex.upstream?.destroy();
  ex.finish(499, false);
}
