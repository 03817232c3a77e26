// Connection pools per backend (`host:port`), shared by every listener. A backend that leaves
// every routing table is retired: it takes no new requests (the tables no longer pick it),
// its in-flight requests finish on their sockets, and its keep-alive sockets are closed once
// the last one ends (draining).
import http from 'node:http';
import net from 'node:net';

export interface BackendPoolOptions {
  /** Concurrent sockets per backend (default 256); more requests queue in the agent. */
  maxSockets?: number;
  /** Idle keep-alive sockets kept per backend (default 64). */
  maxFreeSockets?: number;
  /**
   * Idle keep-alive sockets close after this long (default 4 s: below Node's 5 s server
   * keepAliveTimeout, so the router drops a socket before the backend does and never sends
   * a request on a socket the backend is closing).
   */
  idleSocketMs?: number;
  /**
   * A new connection that is not established within this long is destroyed with an
   * `ETIMEDOUT` connect error (default 1 s), which the request it was for fails over on.
   */
  connectTimeoutMs?: number;
  /** Called with the backend id each time a new connection to it is established. */
  onConnect?: (id: string) => void;
}

interface Backend {
  agent: http.Agent;
  inFlight: number;
  retired: boolean;
}

/** A backend held for one request or connection; `release()` exactly once. */
export interface Lease {
  agent: http.Agent;
  release(): void;
}

// One small object per request, with the release logic on the prototype (no closure).
class BackendLease implements Lease {
  private released = false;

  constructor(
    private readonly pool: BackendPool,
    private readonly id: string,
    private readonly backend: Backend,
  ) {}

  get agent(): http.Agent {
    return this.backend.agent;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.pool.released(this.id, this.backend);
  }
}

export class BackendPool {
  private readonly backends = new Map<string, Backend>();
  private readonly options: Required<Omit<BackendPoolOptions, 'onConnect'>> & Pick<BackendPoolOptions, 'onConnect'>;

  constructor(options: BackendPoolOptions = {}) {
    this.options = {
      maxSockets: options.maxSockets ?? 256,
      maxFreeSockets: options.maxFreeSockets ?? 64,
      idleSocketMs: options.idleSocketMs ?? 4000,
      connectTimeoutMs: options.connectTimeoutMs ?? 1000,
      onConnect: options.onConnect,
    };
  }

  acquire(id: string): Lease {
    let b = this.backends.get(id);
    if (b === undefined) {
      b = {
        agent: new http.Agent({
          keepAlive: true,
          maxSockets: this.options.maxSockets,
          maxFreeSockets: this.options.maxFreeSockets,
          timeout: this.options.idleSocketMs,
          scheduling: 'lifo',
          // Small requests and responses: send each write at once rather than wait for an ACK.
          noDelay: true,
        } as http.AgentOptions),
        inFlight: 0,
        retired: false,
      };
      this.watchConnects(id, b.agent);
      this.backends.set(id, b);
    }
    // A backend picked again after it was retired (it came back) is live again.
    b.retired = false;
    b.inFlight++;
    return new BackendLease(this, id, b);
  }

  /** Each new connection of `agent` gets the connect timeout and reports its connect (per connection, not per request). */
  private watchConnects(id: string, agent: http.Agent): void {
    const ms = this.options.connectTimeoutMs;
    const onConnect = this.options.onConnect;
    (agent as unknown as { createConnection: (o: net.NetConnectOpts) => net.Socket }).createConnection = (o) => {
      const socket = net.createConnection(o);
      const timer = setTimeout(() => {
        if (socket.connecting) socket.destroy(Object.assign(new Error(`connect to ${id} timed out after ${ms} ms`), { code: 'ETIMEDOUT', syscall: 'connect' }));
      }, ms);
      socket.once('connect', () => {
        clearTimeout(timer);
        onConnect?.(id);
      });
      socket.once('close', () => clearTimeout(timer));
      return socket;
    };
  }

  /** Called once per lease by `Lease.release()`. */
  released(id: string, backend: Backend): void {
    backend.inFlight--;
    if (backend.retired && backend.inFlight === 0) this.destroy(id, backend);
  }

  /** Retires every backend not in `live`; those idle now are closed at once. */
  retain(live: ReadonlySet<string>): void {
    for (const [id, b] of this.backends) {
      if (live.has(id)) {
        b.retired = false;
        continue;
      }
      b.retired = true;
      if (b.inFlight === 0) this.destroy(id, b);
    }
  }

  /** Requests or connections in flight per backend (for draining checks and status). */
  inFlight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, b] of this.backends) out[id] = b.inFlight;
    return out;
  }

  /** Backends with a pool (live or still draining). */
  backendIds(): string[] {
    return [...this.backends.keys()].sort();
  }

  /** Closes every pool, in-flight sockets included (after listeners have drained). */
  destroyAll(): void {
    for (const [id, b] of this.backends) this.destroy(id, b);
  }

  private destroy(id: string, b: Backend): void {
    if (this.backends.get(id) === b) this.backends.delete(id);
    b.agent.destroy();
  }
}
