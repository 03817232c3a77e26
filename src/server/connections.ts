// Connection limits of the API listener: timeouts, an overall cap and a per-address cap, so
// a flood of half-open connections (slowloris) cannot use up the process's file descriptors
// and lock out /healthz, the CLI and the agents.
//
// How the caps decide, and why:
// - A socket is "pending" from accept until its first request's headers are complete, then
//   "served". Pending sockets are what a slowloris flood is made of; a served socket has
//   proved it speaks HTTP, and it is bounded by the timeouts below (headersTimeout for its
//   next request's headers, keepAliveTimeout between requests, requestTimeout for a body).
// - Pending sockets that do not finish their headers within headersTimeout are closed by
//   Node's HTTP server (a socket that sends nothing at all included).
// - Per address (an IPv4 address, or the /64 of an IPv6 one), only pending sockets count.
//   Over the cap the OLDEST pending socket of that address is closed, not the new one:
//   the local agent, a CLI on the same host and an attacker on loopback share 127.0.0.1,
//   and a new connection from a real client sends its headers at once, while a slowloris
//   socket sits pending for seconds. Refusing the new one would lock the real client out
//   for as long as the flood lasts.
// - Over the overall cap the oldest pending socket (any address) is closed to make room;
//   when there is none, the oldest idle keep-alive socket (served, no request in flight)
//   is closed; when every socket is serving a request, the new one is refused.
// - A closed pending socket and a refused new one get a minimal `503 Service Unavailable`
//   with `Retry-After` before the close; an idle keep-alive socket is closed silently, as
//   its keep-alive timeout would (a reply there could be taken for the next response).
// - Sockets serving a request (watch streams, pushes, the agents' calls) are never closed
//   to make room.
// Out of descriptors on accept (EMFILE/ENFILE), the server logs one warning per burst
// (CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED), closes some of the oldest pending sockets to
// free descriptors, and keeps serving.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ConnectionLimits {
  /** Time to receive a request's complete headers (default 10 s; 0 turns it off). */
  headersTimeoutMs?: number;
  /**
   * Time to receive a whole request, body included (default 60 s; 0 turns it off). A
   * response may take longer (watch streams do), and an authenticated Git POST (a push
   * uploading its pack) is exempt: the idle timeout and the push size limit bound it.
   */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open (default 5 s). */
  keepAliveTimeoutMs?: number;
  /**
   * A socket with no traffic either way for this long is closed (default 120 s; 0 turns it
   * off). Watch streams stay open through their heartbeats: it is raised to at least twice
   * the heartbeat interval.
   */
  idleTimeoutMs?: number;
  /** Open connections in all (default derived from the open-files limit, see defaultMaxConnections). */
  maxConnections?: number;
  /** Connections per remote address that have not completed a request's headers yet (default 256). */
  maxPendingPerAddress?: number;
  /** `Retry-After` seconds in a 503 (default 1). */
  retryAfterSeconds?: number;
}

export type ResolvedConnectionLimits = Required<ConnectionLimits>;

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 256;
/** When the open-files limit cannot be read. */
export const FALLBACK_MAX_CONNECTIONS = 4096;

/** The soft open-files limit (Linux /proc/self/limits); undefined when unknown or unlimited. */
export function openFilesSoftLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(read());
    if (!m || m[1] === 'unlimited') return undefined;
    const n = Number(m[1]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The default overall cap: the soft open-files limit less a reserve for everything else the
 * process opens (store files, git http-backend pipes, the router, pods' pipes): a fifth of
 * the limit, at least 256; between 64 and 16,384. Node raises the soft limit to the hard
 * one at start, so this is the limit the process really has.
 */
export function defaultMaxConnections(): number {
  return maxConnectionsFor(openFilesSoftLimit());
}

/** The default overall cap for a soft open-files limit (undefined: unknown). */
export function maxConnectionsFor(softLimit: number | undefined): number {
  if (softLimit === undefined) return FALLBACK_MAX_CONNECTIONS;
  const reserve = Math.max(256, Math.floor(softLimit / 5));
  return Math.min(16_384, Math.max(64, softLimit - reserve));
}

export function resolveConnectionLimits(limits: ConnectionLimits = {}, heartbeatMs?: number): ResolvedConnectionLimits {
  const idle = limits.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const r: ResolvedConnectionLimits = {
    headersTimeoutMs: limits.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    idleTimeoutMs: idle > 0 && heartbeatMs !== undefined ? Math.max(idle, 2 * heartbeatMs) : idle,
    maxConnections: limits.maxConnections ?? defaultMaxConnections(),
    maxPendingPerAddress: limits.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS,
    retryAfterSeconds: limits.retryAfterSeconds ?? 1,
  };
  for (const [name, value] of Object.entries(r)) {
    const min = name === 'maxConnections' || name === 'maxPendingPerAddress' ? 1 : 0;
    if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`connection limit ${name} must be an integer >= ${min}, got ${value}`);
  }
  // Node refuses a headers timeout longer than the request timeout.
  if (r.requestTimeoutMs > 0 && r.headersTimeoutMs > r.requestTimeoutMs) r.headersTimeoutMs = r.requestTimeoutMs;
  return r;
}

/** How often Node checks the headers and request timeouts: a quarter of the shorter one, at most 1 s. */
export function checkingIntervalMs(r: ResolvedConnectionLimits): number {
  const timeouts = [r.headersTimeoutMs, r.requestTimeoutMs].filter((t) => t > 0);
  return timeouts.length === 0 ? 30_000 : Math.max(10, Math.min(1000, Math.floor(Math.min(...timeouts) / 4)));
}

/** What the per-address cap counts by: the IPv4 address, or the /64 of an IPv6 one. */
export function addressKey(remote: string | undefined): string {
  if (remote === undefined) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1]!;
  if (!remote.includes(':')) return remote;
  const bare = remote.split('%')[0]!.toLowerCase();
  const halves = bare.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const width = (groups: string[]): number => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = halves.length > 1 ? [...head, ...Array<string>(Math.max(0, 8 - width(head) - width(tail))).fill('0'), ...tail] : head;
  return `${groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : g))
    .join(':')}::/64`;
}

/** Logs the first event of a burst at once, then at most one summary per window. */
export class BurstLog {
  private last = -Infinity;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: (fields: Record<string, unknown>, msg: string) => void,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  event(fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    if (t - this.last >= this.windowMs) {
      this.last = t;
      this.log(fields, msg);
      return;
    }
    this.suppressed++;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.suppressed === 0) return;
        const n = this.suppressed;
        this.suppressed = 0;
        this.last = this.now();
        this.log({ ...fields, repeated: n }, `${msg} (${n} more times in the last ${Math.round(this.windowMs / 1000)} s)`);
      }, Math.max(0, this.last + this.windowMs - t));
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface Tracked {
  key: string;
  pending: boolean;
  inFlight: number;
}

export type ShedReason = 'per_address' | 'capacity_pending' | 'capacity_idle' | 'capacity_full' | 'descriptors';

interface GuardMetrics {
  shed: Counter<'reason'>;
  acceptErrors: Counter<'code'>;
  guards: Set<ConnectionGuard>;
}

const metricsCache = new WeakMap<Registry, GuardMetrics>();

function guardMetrics(registry: Registry): GuardMetrics {
  const hit = metricsCache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const guards = new Set<ConnectionGuard>();
  const m: GuardMetrics = {
    guards,
    shed: new Counter({
      name: 'capstan_http_connections_shed_total',
      help: 'API connections closed or refused by the connection limits, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    acceptErrors: new Counter({
      name: 'capstan_http_accept_errors_total',
      help: 'Failed accepts on the API listener (EMFILE, ENFILE: out of file descriptors).',
      labelNames: ['code'],
      registers,
    }),
  };
  new Gauge({
    name: 'capstan_http_connections',
    help: 'Open API connections: pending (request headers not complete yet) or served.',
    labelNames: ['state'],
    registers,
    collect() {
      let pending = 0;
      let all = 0;
      for (const g of guards) {
        pending += g.pendingCount;
        all += g.size;
      }
      this.set({ state: 'pending' }, pending);
      this.set({ state: 'served' }, all - pending);
    },
  });
  metricsCache.set(registry, m);
  return m;
}

const RESOURCE_CODE = 'CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED';

function unavailable(retryAfterSeconds: number): Buffer {
  const body = `${JSON.stringify({ error: { code: RESOURCE_CODE, message: 'the server is at its connection limit; retry shortly' } })}\n`;
  return Buffer.from(
    `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${retryAfterSeconds}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Tracks the listener's sockets and applies the caps. Wire connection(), requestStarted() and requestEnded(). */
export class ConnectionGuard {
  private readonly all = new Map<Socket, Tracked>();
  /** Insertion order is age: the first is the oldest. */
  private readonly pending = new Set<Socket>();
  private readonly pendingByKey = new Map<string, Set<Socket>>();
  /** Served sockets with no request in flight, oldest idle first. */
  private readonly idle = new Set<Socket>();
  private readonly reply: Buffer;
  private readonly shedLog: BurstLog;
  private readonly acceptLog: BurstLog;
  private readonly metrics: GuardMetrics | undefined;

  constructor(
    private readonly limits: Pick<ResolvedConnectionLimits, 'maxConnections' | 'maxPendingPerAddress' | 'retryAfterSeconds'>,
    logger: Logger,
    registry?: Registry,
  ) {
    this.reply = unavailable(limits.retryAfterSeconds);
    this.shedLog = new BurstLog((f, m) => logger.warn(f, m));
    this.acceptLog = new BurstLog((f, m) => logger.warn(f, m));
    this.metrics = registry ? guardMetrics(registry) : undefined;
    this.metrics?.guards.add(this);
  }

  get size(): number {
    return this.all.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** At the server's 'connection' event. False when the new socket was refused (and closed). */
  connection(socket: Socket): boolean {
    if (socket.destroyed) return false;
    const key = addressKey(socket.remoteAddress);
    const mine = this.pendingByKey.get(key);
    if (mine && mine.size >= this.limits.maxPendingPerAddress) this.shed(first(mine)!, 'per_address', true);
    if (this.all.size >= this.limits.maxConnections) {
      const oldestPending = first(this.pending);
      const oldestIdle = oldestPending ? undefined : first(this.idle);
      if (oldestPending) this.shed(oldestPending, 'capacity_pending', true);
      else if (oldestIdle) this.shed(oldestIdle, 'capacity_idle', false);
      else {
        this.count('capacity_full', socket);
        refuse(socket, this.reply);
        return false;
      }
    }
    this.all.set(socket, { key, pending: true, inFlight: 0 });
    this.pending.add(socket);
    if (mine) mine.add(socket);
    else this.pendingByKey.set(key, new Set([socket]));
    socket.once('close', () => this.forget(socket));
    return true;
  }

  /** At each request (its headers are complete). */
  requestStarted(socket: Socket): void {
    const t = this.all.get(socket);
    if (!t) return;
    if (t.pending) {
      t.pending = false;
      this.unpend(socket, t);
    }
    t.inFlight++;
    this.idle.delete(socket);
  }

  /** When a request's response has finished or its socket closed. */
  requestEnded(socket: Socket): void {
    const t = this.all.get(socket);
    if (!t) return;
    t.inFlight = Math.max(0, t.inFlight - 1);
    if (t.inFlight === 0) {
      this.idle.delete(socket);
      this.idle.add(socket);
    }
  }

  /** An 'error' of the listening server. True when it was a failed accept, handled here. */
  acceptError(err: NodeJS.ErrnoException): boolean {
    if (err.syscall !== 'accept' && err.code !== 'EMFILE' && err.code !== 'ENFILE') return false;
    const code = err.code ?? 'unknown';
    this.metrics?.acceptErrors.inc({ code });
    // Free descriptors: the oldest sockets that have not even sent their headers.
    const freed = Math.min(this.pending.size, 16);
    for (let i = 0; i < freed; i++) this.shed(first(this.pending)!, 'descriptors', true);
    this.acceptLog.event(
      { code: RESOURCE_CODE, errno: code, connections: this.all.size, pending: this.pending.size, closedPending: freed },
      `the API server could not accept a connection (${code}: out of file descriptors); closing the oldest connections without a complete request`,
    );
    return true;
  }

  close(): void {
    this.shedLog.stop();
    this.acceptLog.stop();
    this.metrics?.guards.delete(this);
  }

  private shed(socket: Socket, reason: ShedReason, reply: boolean): void {
    this.forget(socket);
    this.count(reason, socket);
    if (reply) refuse(socket, this.reply);
    else socket.destroy();
  }

  private count(reason: ShedReason, socket: Socket): void {
    this.metrics?.shed.inc({ reason });
    this.shedLog.event(
      {
        code: RESOURCE_CODE,
        reason,
        remote: socket.remoteAddress,
        connections: this.all.size,
        pending: this.pending.size,
        maxConnections: this.limits.maxConnections,
        maxPendingPerAddress: this.limits.maxPendingPerAddress,
      },
      'API connection limit reached: closing the oldest connections that have not completed a request',
    );
  }

  private forget(socket: Socket): void {
    const t = this.all.get(socket);
    if (!t) return;
    this.all.delete(socket);
    this.idle.delete(socket);
    if (t.pending) this.unpend(socket, t);
  }

  private unpend(socket: Socket, t: Tracked): void {
    this.pending.delete(socket);
    const set = this.pendingByKey.get(t.key);
    if (!set) return;
    set.delete(socket);
    if (set.size === 0) this.pendingByKey.delete(t.key);
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}

/** A minimal 503 and an immediate close (the reply goes out in the same write when the socket buffer has room). */
function refuse(socket: Socket, reply: Buffer): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.write(reply, () => {});
  socket.destroy();
}
