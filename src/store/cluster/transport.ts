// The peer transport: HTTP/1.1 between members, on a listener separate from the API port.
// Raft messages go to each peer over one long-lived streaming request (chunked body of
// length-prefixed binary batches, authenticated once when it opens), so a message costs one
// write and arrives in order, with no reply to wait for; a stream that breaks is reopened on
// the next send, and what was written meanwhile is lost (Raft resends). Snapshots go as
// separate requests, whose answer tells the core whether they arrived. Forwarded proposals, membership changes and status reads are ordinary
// request/response calls on the same connections. (Linearizable reads need no call of their
// own: ReadIndex travels in Raft messages.)
//
// Every request carries the cluster token (compared in constant time) and the cluster id; a
// member of another cluster is refused with CAPSTAN_ERR_STORE_CLUSTER_MISMATCH. The token is
// never logged.
//
// With `tls` (https:// peer URLs) the listener is HTTPS asking every caller for a certificate
// signed by the cluster CA, and every outgoing request presents this member's certificate and
// trusts that CA alone: a peer without such a certificate is refused at the handshake, before
// any message is read. The token check stays. A refused handshake is logged once per peer.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest, type ClientRequest, type RequestOptions, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CapstanError } from '../../common/index.js';
import type { RaftMessage } from '../raft/index.js';
import { decodeMessages, encodeMessages, fromWireError, fromWireJson, toWireError, toWireJson, type WireError } from './codec.js';
import { memberIdFor } from './ids.js';
import { inboundTlsRefusal, outboundTlsRefusal, RefusalLog } from './tls-refusal.js';

export const PEER_PATHS = {
  messages: '/raft/v1/messages',
  stream: '/raft/v1/stream',
  propose: '/raft/v1/propose',
  membership: '/raft/v1/membership',
  status: '/raft/v1/status',
} as const;

const HEADER_CLUSTER = 'x-capstan-cluster';
const HEADER_FROM = 'x-capstan-member';
const MAX_MESSAGES_BODY = 256 * 1024 * 1024;
const MAX_RPC_BODY = 4 * 1024 * 1024;
/** Queued messages per unreachable peer beyond which the oldest are dropped (Raft resends). */
const MAX_QUEUED = 4096;
/** Bytes a stream may have buffered unsent before it counts as stuck and is dropped. */
const MAX_STREAM_BUFFER = 64 * 1024 * 1024;

/** What a member answers to its peers. */
/** A membership change asked of the leader. */
export interface MembershipRequest {
  op: 'add' | 'promote' | 'remove';
  name: string;
  /** Peer URL of a member being added. */
  url?: string;
}

export interface PeerHandlers {
  messages(messages: RaftMessage[]): void;
  /** Proposes an encoded command here (the leader); resolves once applied. */
  propose(command: Uint8Array): Promise<{ index: number; result: unknown }>;
  membership(request: MembershipRequest): Promise<{ index: number }>;
  status(): unknown;
}

export interface TransportOptions {
  selfId: number;
  clusterId: string;
  token: string;
  /** Where the peer listener binds (127.0.0.1 by default); port 0 picks one. */
  host?: string;
  port: number;
  /** Peer id → `http://host:port` (`https://` with `tls`). */
  peers: Map<number, string>;
  /**
   * Mutual TLS: PEM of the cluster CA (the only one trusted, both ways) and this member's
   * certificate (CN the member name, for its peer URL's host) and key.
   */
  tls?: PeerTls;
  handlers: PeerHandlers;
  logger?: Logger;
  /** How long a peer request may take before it is abandoned (default 5 s). */
  requestTimeoutMs?: number;
  /** A batch of messages reached its peer (`ok`) or could not be delivered. */
  onSent?: (peer: number, messages: RaftMessage[], ok: boolean) => void;
}

export interface PeerTls {
  ca: string;
  cert: string;
  key: string;
}

interface PeerQueue {
  url: URL;
  /** The open message stream, if any. */
  stream?: ClientRequest;
  queue: RaftMessage[];
  inflight: boolean;
  reachable: boolean;
  mismatchLogged: boolean;
  /** A refused TLS handshake was logged (again only after a success). */
  tlsLogged: boolean;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new CapstanError('CAPSTAN_ERR_STORE_TOO_LARGE', `peer request over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function unreachable(peer: number, cause: unknown): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', `member ${peer.toString(16)} could not be reached: ${String((cause as Error)?.message ?? cause)}`, {
    cause,
    context: { peer: peer.toString(16) },
  });
}

export class HttpTransport {
  private readonly o: TransportOptions;
  private readonly logger: Logger | undefined;
  private readonly tokenDigest: Buffer;
  private readonly agent: HttpAgent;
  private readonly scheme: 'http' | 'https';
  /** Remote addresses (with the reason) whose refused handshake was logged. */
  private readonly refusedInbound = new RefusalLog();
  /** Requests whose TLS handshake finished on a new connection and that have no answer yet. */
  private readonly unanswered = new WeakSet<ClientRequest>();
  private readonly peers = new Map<number, PeerQueue>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private stopped = false;
  /** While blocked (tests: a partition), nothing goes out and inbound requests are refused. */
  private blocked = false;
  url = '';

  constructor(o: TransportOptions) {
    this.o = o;
    this.logger = o.logger?.child({ component: 'peer-transport' });
    this.tokenDigest = digest(o.token);
    this.scheme = o.tls ? 'https' : 'http';
    const keepAlive = { keepAlive: true, maxSockets: 64, keepAliveMsecs: 1000 };
    this.agent = o.tls ? new HttpsAgent({ ...keepAlive, ...this.clientTls() }) : new HttpAgent(keepAlive);
    for (const [id, url] of o.peers) if (id !== o.selfId) this.setPeer(id, url);
  }

  setPeer(id: number, url: string): void {
    const existing = this.peers.get(id);
    if (existing) existing.url = new URL(url);
    else this.peers.set(id, { url: new URL(url), queue: [], inflight: false, reachable: true, mismatchLogged: false, tlsLogged: false });
  }

  /** What an outgoing request presents and trusts under mutual TLS. */
  private clientTls(): { ca?: string; cert?: string; key?: string } {
    const t = this.o.tls;
    return t ? { ca: t.ca, cert: t.cert, key: t.key } : {};
  }

  private request(options: RequestOptions, onResponse?: (res: IncomingMessage) => void): ClientRequest {
    if (!this.o.tls) return onResponse ? httpRequest(options, onResponse) : httpRequest(options);
    const withTls = { ...options, ...this.clientTls() };
    const req = onResponse ? httpsRequest(withTls, onResponse) : httpsRequest(withTls);
    // A fresh connection closed after the handshake and before any answer: the peer refused our certificate.
    // A pooled socket is already past its handshake: a listener on it would never fire and would pile up.
    req.on('socket', (s) => {
      if (!s.connecting) return;
      s.once('secureConnect', () => this.unanswered.add(req));
    });
    req.once('response', () => this.unanswered.delete(req));
    return req;
  }

  /** Says once per peer (until it next succeeds) that the TLS handshake with it was refused. */
  private noteOutboundFailure(id: number, p: PeerQueue, err: unknown, req: ClientRequest): boolean {
    if (!this.o.tls) return false;
    const reason = outboundTlsRefusal(err, this.unanswered.has(req));
    if (!reason) return false;
    if (!p.tlsLogged && !this.stopped && !this.blocked) {
      p.tlsLogged = true;
      this.logger?.error({ peer: id.toString(16), url: `${this.scheme}://${p.url.host}` }, `TLS handshake with the peer failed: ${reason}`);
    }
    return true;
  }

  removePeer(id: number): void {
    this.peers.get(id)?.stream?.destroy();
    this.peers.delete(id);
  }

  peerUrl(id: number): string | undefined {
    const p = this.peers.get(id);
    return p ? `${this.scheme}://${p.url.host}` : undefined;
  }

  setBlocked(blocked: boolean): void {
    this.blocked = blocked;
    if (blocked) {
      for (const p of this.peers.values()) {
        p.queue = [];
        p.stream?.destroy();
        p.stream = undefined;
      }
      for (const s of this.sockets) s.destroy();
      this.agent.destroy();
    }
  }

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.serve(req, res);
    const tls = this.o.tls;
    const server: Server = tls
      ? createHttpsServer({ keepAliveTimeout: 30_000, ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true }, handler)
      : createHttpServer({ keepAliveTimeout: 30_000 }, handler);
    if (tls) {
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        // The TLS socket is gone by now; the connection under it still knows the address.
        const remote = socket.remoteAddress ?? (socket as unknown as { _parent?: Socket })._parent?.remoteAddress ?? 'unknown';
        const reason = inboundTlsRefusal(err, socket.authorizationError);
        if (this.refusedInbound.first(`${remote} ${reason}`)) this.logger?.warn({ remote, code: String(socket.authorizationError ?? (err as NodeJS.ErrnoException).code) }, `refused a peer connection at the TLS handshake: ${reason}`);
        socket.destroy();
      });
    }
    server.on('connection', (s) => {
      s.setNoDelay(true);
      void s.remoteAddress; // read now, while the connection is open, for a refusal's log line
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.url = `${this.scheme}://${a.address}:${a.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.peers.values()) {
      p.queue = [];
      p.stream?.destroy();
      p.stream = undefined;
    }
    this.agent.destroy();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- inbound ----

  private reply(res: ServerResponse, status: number, body?: unknown): void {
    if (body === undefined) {
      res.writeHead(status, { 'content-length': 0 });
      res.end();
      return;
    }
    const text = toWireJson(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private refuse(res: ServerResponse, status: number, error: WireError): void {
    this.reply(res, status, { error });
  }

  /** Token and cluster id (and, under TLS, a certificate naming the member it says it is); false when refused. */
  private admit(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.o.tls) {
      const cn = (req.socket as TLSSocket).getPeerCertificate?.()?.subject?.CN;
      const from = req.headers[HEADER_FROM];
      if (typeof cn !== 'string' || typeof from !== 'string' || memberIdFor(cn).toString(16) !== from) {
        this.logger?.warn({ remote: req.socket.remoteAddress, from, certificate: cn }, 'refused a peer request: its certificate names another member');
        this.refuse(res, 403, { code: 'CAPSTAN_ERR_STORE_AUTH', message: `the peer certificate (CN ${String(cn)}) is not the certificate of member ${String(from)}` });
        return false;
      }
    }
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!timingSafeEqual(digest(given), this.tokenDigest)) {
      this.logger?.warn({ remote: req.socket.remoteAddress, from: req.headers[HEADER_FROM] }, 'refused a peer request with a wrong cluster token');
      this.refuse(res, 401, { code: 'CAPSTAN_ERR_STORE_AUTH', message: 'the cluster token does not match' });
      return false;
    }
    const cluster = req.headers[HEADER_CLUSTER];
    if (cluster !== this.o.clusterId) {
      this.logger?.error({ from: req.headers[HEADER_FROM], theirCluster: cluster, ourCluster: this.o.clusterId }, 'refused a member of another cluster');
      this.refuse(res, 409, {
        code: 'CAPSTAN_ERR_STORE_CLUSTER_MISMATCH',
        message: `this member belongs to cluster ${this.o.clusterId}, the caller to cluster ${String(cluster)}`,
        context: { expected: this.o.clusterId, got: String(cluster) },
      });
      return false;
    }
    return true;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.blocked || this.stopped) {
        req.socket.destroy();
        return;
      }
      const path = (req.url ?? '').split('?')[0];
      if (!this.admit(req, res)) return;
      const h = this.o.handlers;
      if (req.method === 'POST' && path === PEER_PATHS.messages) {
        const body = await readBody(req, MAX_MESSAGES_BODY);
        if (this.blocked) return void req.socket.destroy();
        h.messages(decodeMessages(body));
        return this.reply(res, 204);
      }
      if (req.method === 'POST' && path === PEER_PATHS.stream) return this.serveStream(req, res);
      if (req.method === 'POST' && path === PEER_PATHS.propose) {
        const body = await readBody(req, MAX_RPC_BODY);
        try {
          return this.reply(res, 200, await h.propose(body));
        } catch (err) {
          return this.reply(res, 200, { error: toWireError(err) });
        }
      }
      if (req.method === 'POST' && path === PEER_PATHS.membership) {
        const body = await readBody(req, 64 * 1024);
        try {
          return this.reply(res, 200, await h.membership(fromWireJson<MembershipRequest>(body.toString('utf8'))));
        } catch (err) {
          return this.reply(res, 200, { error: toWireError(err) });
        }
      }
      if (req.method === 'GET' && path === PEER_PATHS.status) return this.reply(res, 200, h.status());
      this.refuse(res, 404, { code: 'CAPSTAN_ERR_INTERNAL_ERROR', message: `no peer route ${req.method} ${path}` });
    } catch (err) {
      this.logger?.warn({ err }, 'peer request failed');
      if (!res.headersSent) this.refuse(res, 500, toWireError(err));
      else res.destroy();
    }
  }

  /** An inbound message stream: frames of [u32 length][batch] until the peer closes it. */
  private serveStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
    let buf: Buffer = Buffer.alloc(0);
    req.on('data', (chunk: Buffer) => {
      if (this.blocked || this.stopped) return void req.socket.destroy();
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        while (buf.length >= 4) {
          const len = buf.readUInt32LE(0);
          if (len > MAX_MESSAGES_BODY) throw new RangeError(`a frame of ${len} bytes`);
          if (buf.length < 4 + len) break;
          const frame = buf.subarray(4, 4 + len);
          buf = buf.subarray(4 + len);
          this.o.handlers.messages(decodeMessages(frame));
        }
      } catch (err) {
        this.logger?.warn({ err, from: req.headers[HEADER_FROM] }, 'dropping a peer stream with a bad frame');
        req.socket.destroy();
      }
    });
    req.on('end', () => res.end());
  }

  // ---- outbound ----

  /** Queues messages for their peers and sends what each idle peer has. */
  send(messages: RaftMessage[]): void {
    if (this.stopped || this.blocked) return;
    const touched = new Set<number>();
    const streamed = new Map<number, RaftMessage[]>();
    for (const m of messages) {
      const p = this.peers.get(m.to);
      if (!p) continue;
      if (m.type !== 'snapshot') {
        const list = streamed.get(m.to);
        if (list) list.push(m);
        else streamed.set(m.to, [m]);
        continue;
      }
      p.queue.push(m);
      if (p.queue.length > MAX_QUEUED) p.queue.splice(0, p.queue.length - MAX_QUEUED);
      touched.add(m.to);
    }
    for (const [id, batch] of streamed) this.stream(id, batch);
    for (const id of touched) this.flush(id);
  }

  /** Writes a batch on the peer's stream, opening one when there is none. */
  private stream(id: number, batch: RaftMessage[]): void {
    const p = this.peers.get(id)!;
    const stream = p.stream ?? this.openStream(id, p);
    if (stream.writableLength > MAX_STREAM_BUFFER) {
      this.logger?.warn({ peer: id.toString(16) }, 'peer stream stuck; dropping it');
      stream.destroy();
      this.o.onSent?.(id, batch, false);
      return;
    }
    const body = encodeMessages(batch);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(body.length, 0);
    stream.write(Buffer.concat([head, body]));
    this.o.onSent?.(id, batch, true);
  }

  private openStream(id: number, p: PeerQueue): ClientRequest {
    const req = this.request({
      agent: false,
      host: p.url.hostname,
      port: Number(p.url.port),
      method: 'POST',
      path: PEER_PATHS.stream,
      headers: {
        authorization: `Bearer ${this.o.token}`,
        [HEADER_CLUSTER]: this.o.clusterId,
        [HEADER_FROM]: this.o.selfId.toString(16),
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
      },
    });
    p.stream = req;
    const drop = (err?: unknown): void => {
      if (p.stream !== req) return;
      p.stream = undefined;
      if (!this.stopped && !this.blocked) {
        if (err !== undefined && this.noteOutboundFailure(id, p, err, req)) p.reachable = false;
        if (p.reachable) this.logger?.warn({ peer: id.toString(16), err: (err as Error | undefined)?.message }, 'peer stream lost; messages dropped until it reopens (Raft resends)');
        p.reachable = false;
        this.o.onSent?.(id, [], false);
      }
    };
    req.on('socket', (s) => s.setNoDelay(true));
    req.on('response', (res) => {
      if (res.statusCode === 200) {
        if (!p.reachable) this.logger?.info({ peer: id.toString(16) }, 'peer reachable again');
        p.reachable = true;
        p.tlsLogged = false;
        res.resume();
        res.on('end', () => drop());
        return;
      }
      readBody(res, MAX_RPC_BODY).then((buf) => {
        let error: WireError | undefined;
        try {
          error = (fromWireJson<{ error?: WireError }>(buf.toString('utf8')) ?? {}).error;
        } catch {
          error = undefined;
        }
        if (error && !p.mismatchLogged && (error.code === 'CAPSTAN_ERR_STORE_CLUSTER_MISMATCH' || error.code === 'CAPSTAN_ERR_STORE_AUTH')) {
          p.mismatchLogged = true;
          this.logger?.error({ peer: id.toString(16), url: `${this.scheme}://${p.url.host}` }, `peer refused us: ${error.message}`);
        }
        req.destroy();
        drop(new Error(`status ${res.statusCode}`));
      }, drop);
    });
    req.on('error', drop);
    req.on('close', () => drop());
    req.flushHeaders();
    return req;
  }

  private flush(id: number): void {
    const p = this.peers.get(id);
    if (!p || p.inflight || p.queue.length === 0 || this.stopped || this.blocked) return;
    const batch = p.queue;
    p.queue = [];
    p.inflight = true;
    this.call(id, 'POST', PEER_PATHS.messages, encodeMessages(batch), 'application/octet-stream')
      .then(
        () => {
          this.o.onSent?.(id, batch, true);
          if (!p.reachable) this.logger?.info({ peer: id.toString(16) }, 'peer reachable again');
          p.reachable = true;
        },
        (err: unknown) => {
          this.o.onSent?.(id, batch, false);
          if (p.tlsLogged) p.reachable = false;
          if (p.reachable && !this.stopped) this.logger?.warn({ peer: id.toString(16), err: (err as Error).message }, 'peer unreachable; dropping messages (Raft resends)');
          p.reachable = false;
        },
      )
      .finally(() => {
        p.inflight = false;
        this.flush(id);
      });
  }

  /** One request to a peer; resolves with the parsed JSON reply (undefined for 204). */
  private call(id: number, method: string, path: string, body: Buffer | undefined, type = 'application/octet-stream', timeoutMs?: number): Promise<unknown> {
    const p = this.peers.get(id);
    if (!p) return Promise.reject(unreachable(id, 'not a known member'));
    if (this.stopped || this.blocked) return Promise.reject(unreachable(id, 'the transport is stopped'));
    return new Promise((resolve, reject) => {
      const req = this.request(
        {
          agent: this.agent,
          host: p.url.hostname,
          port: Number(p.url.port),
          method,
          path,
          headers: {
            authorization: `Bearer ${this.o.token}`,
            [HEADER_CLUSTER]: this.o.clusterId,
            [HEADER_FROM]: this.o.selfId.toString(16),
            ...(body ? { 'content-type': type, 'content-length': body.length } : {}),
          },
          timeout: timeoutMs ?? this.o.requestTimeoutMs ?? 5000,
        },
        (res) => {
          readBody(res, MAX_RPC_BODY).then((buf) => {
            p.tlsLogged = false;
            if (res.statusCode === 204) return resolve(undefined);
            let parsed: unknown;
            try {
              parsed = buf.length ? fromWireJson(buf.toString('utf8')) : undefined;
            } catch (err) {
              return reject(unreachable(id, err));
            }
            const error = (parsed as { error?: WireError } | undefined)?.error;
            if (error) {
              if (error.code === 'CAPSTAN_ERR_STORE_CLUSTER_MISMATCH' && !p.mismatchLogged) {
                p.mismatchLogged = true;
                this.logger?.error({ peer: id.toString(16), url: `${this.scheme}://${p.url.host}` }, `peer refused us: ${error.message}`);
              }
              if (error.code === 'CAPSTAN_ERR_STORE_AUTH' && !p.mismatchLogged) {
                p.mismatchLogged = true;
                this.logger?.error({ peer: id.toString(16), url: `${this.scheme}://${p.url.host}` }, 'peer refused our cluster token; check --cluster-token-file on both members');
              }
              return reject(fromWireError(error));
            }
            if ((res.statusCode ?? 500) >= 300) return reject(unreachable(id, `status ${res.statusCode}`));
            resolve(parsed);
          }, (err: unknown) => reject(unreachable(id, err)));
        },
      );
      req.on('socket', (s) => s.setNoDelay(true));
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        this.noteOutboundFailure(id, p, err, req);
        reject(unreachable(id, err));
      });
      req.end(body);
    });
  }

  forwardPropose(to: number, command: Uint8Array, timeoutMs: number): Promise<{ index: number; result: unknown }> {
    return this.call(to, 'POST', PEER_PATHS.propose, Buffer.from(command.buffer, command.byteOffset, command.byteLength), 'application/octet-stream', timeoutMs) as Promise<{
      index: number;
      result: unknown;
    }>;
  }

  forwardMembership(to: number, request: MembershipRequest, timeoutMs: number): Promise<{ index: number }> {
    return this.call(to, 'POST', PEER_PATHS.membership, Buffer.from(toWireJson(request)), 'application/json', timeoutMs) as Promise<{ index: number }>;
  }

  peerStatus(to: number, timeoutMs = 2000): Promise<unknown> {
    return this.call(to, 'GET', PEER_PATHS.status, undefined, undefined, timeoutMs);
  }
}
