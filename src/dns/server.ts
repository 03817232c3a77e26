// The DNS server: UDP and TCP on one address and port, answering from a snapshot that
// `update` replaces. Bounded: malformed packets and responses are dropped, UDP answers over
// the client's size (512 bytes, or its EDNS size up to 1232) are truncated with TC set so the
// client asks again over TCP, TCP connections are capped and closed when idle, and queries in
// flight are capped.
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import * as packet from 'dns-packet';
import { CapstanError, type Logger } from '../common/index.js';
import { answer, snapshotProblems, Zone, type DnsRecord, type DnsSnapshot, type Rcode, type Resolution, type Upstream } from './records.js';

/** A UDP answer fits this unless the client's EDNS record allows more. */
export const UDP_PLAIN_LIMIT = 512;
/** The largest UDP answer sent whatever the client advertises (no IP fragmentation). */
export const UDP_EDNS_LIMIT = 1232;
const TCP_LIMIT = 65535;
/** Queries one TCP connection may have waiting for their answers. */
const MAX_TCP_QUEUED = 32;

export interface DnsServerOptions {
  /** Where to listen (UDP and TCP); e.g. the node's router address. */
  host: string;
  /** 0 picks a free port (the same for UDP and TCP). */
  port: number;
  snapshot: DnsSnapshot;
  logger: Logger;
  /** Answers names outside the cluster domain; without one they are REFUSED. */
  upstream?: Upstream;
  /** A TCP connection idle this long is closed (default 10 s). */
  tcpIdleTimeoutMs?: number;
  /** Open TCP connections at most (default 128); more are refused by the listener. */
  maxTcpConnections?: number;
  /** Queries being answered at once at most, UDP and TCP together (default 512); more are dropped. */
  maxInFlight?: number;
}

export interface DnsServerStats {
  /** UDP packets received, answered or not. */
  udpQueries: number;
  /** TCP frames received, answered or not. */
  tcpQueries: number;
  /** Packets dropped: malformed, responses, or over the in-flight cap. */
  dropped: number;
  truncated: number;
  /** Queries given to the upstream. */
  forwarded: number;
}

const OPCODE_QUERY = 0;
const RCODES: Record<Rcode | 'FORMERR' | 'NOTIMP', number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

function toPacketAnswer(r: DnsRecord): packet.Answer {
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return { type: r.type, name: r.name, ttl: r.ttl, class: 'IN', data: r.address };
    case 'SRV':
      return { type: 'SRV', name: r.name, ttl: r.ttl, class: 'IN', data: { priority: r.priority, weight: r.weight, port: r.port, target: r.target } };
    case 'SOA':
      return {
        type: 'SOA',
        name: r.name,
        ttl: r.ttl,
        class: 'IN',
        data: { mname: r.mname, rname: r.rname, serial: r.serial, refresh: r.refresh, retry: r.retry, expire: r.expire, minimum: r.minimum },
      };
  }
}

interface Request {
  id: number;
  flags: number;
  question: packet.Question;
  /** The client's EDNS UDP size, when it sent an OPT record. */
  ednsSize?: number;
}

/** The query in a packet, or why it gets no normal answer: dropped, or answered with an rcode only. */
export function parseQuery(buf: Buffer): { request: Request } | { reply: { id: number; flags: number; rcode: 'FORMERR' | 'NOTIMP' | 'REFUSED'; question?: packet.Question } } | { drop: string } {
  if (buf.length < 12) return { drop: 'shorter than a DNS header' };
  // QR set: a response sent to us; never answered, so two servers cannot loop.
  if ((buf[2] & 0x80) !== 0) return { drop: 'a response, not a query' };
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(buf);
  } catch {
    return { drop: 'malformed' };
  }
  const id = decoded.id ?? 0;
  const flags = decoded.flags ?? 0;
  const opcode = (flags >> 11) & 0xf;
  const questions = decoded.questions ?? [];
  if (opcode !== OPCODE_QUERY) return { reply: { id, flags, rcode: 'NOTIMP' } };
  if (questions.length !== 1) return { reply: { id, flags, rcode: 'FORMERR' } };
  const question = questions[0];
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return { reply: { id, flags, rcode: 'REFUSED', question } };
  const opt = (decoded.additionals ?? []).find((a): a is packet.OptAnswer => a.type === 'OPT');
  return { request: { id, flags, question, ednsSize: opt?.udpPayloadSize } };
}

function header(id: number, requestFlags: number, rcode: number, authoritative: boolean, recursion: boolean): { id: number; type: 'response'; flags: number } {
  let flags = rcode & 0xf;
  if (authoritative) flags |= packet.AUTHORITATIVE_ANSWER;
  if ((requestFlags & packet.RECURSION_DESIRED) !== 0) flags |= packet.RECURSION_DESIRED;
  if (recursion) flags |= packet.RECURSION_AVAILABLE;
  return { id, type: 'response', flags };
}

/** The encoded response, truncated (TC set, records left out) when it is over `limit`. */
export function encodeResponse(request: Request, resolution: Resolution, limit: number, recursion: boolean): { bytes: Buffer; truncated: boolean } {
  const head = header(request.id, request.flags, RCODES[resolution.rcode], resolution.authoritative, recursion);
  const opt: packet.Answer[] =
    request.ednsSize === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  const full: packet.Packet = {
    ...head,
    questions: [request.question],
    answers: resolution.answers.map(toPacketAnswer),
    authorities: resolution.authorities.map(toPacketAnswer),
    additionals: [...resolution.additionals.map(toPacketAnswer), ...opt],
  };
  const bytes = packet.encode(full);
  if (bytes.length <= limit) return { bytes, truncated: false };
  const cut: packet.Packet = { ...head, flags: head.flags | packet.TRUNCATED_RESPONSE, questions: [request.question], answers: [], authorities: [], additionals: opt };
  return { bytes: packet.encode(cut), truncated: true };
}

function rcodeOnly(reply: { id: number; flags: number; rcode: 'FORMERR' | 'NOTIMP' | 'REFUSED'; question?: packet.Question }): Buffer {
  return packet.encode({ ...header(reply.id, reply.flags, RCODES[reply.rcode], false, false), questions: reply.question === undefined ? [] : [reply.question] });
}

function udpLimit(ednsSize: number | undefined): number {
  if (ednsSize === undefined) return UDP_PLAIN_LIMIT;
  return Math.min(UDP_EDNS_LIMIT, Math.max(UDP_PLAIN_LIMIT, ednsSize));
}

export class DnsServer {
  private zone: Zone;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private inFlight = 0;
  private bound?: { host: string; port: number };
  private readonly counters: DnsServerStats = { udpQueries: 0, tcpQueries: 0, dropped: 0, truncated: 0, forwarded: 0 };

  constructor(private readonly options: DnsServerOptions) {
    this.zone = DnsServer.zoneOf(options.snapshot);
  }

  private static zoneOf(snapshot: DnsSnapshot): Zone {
    const problems = snapshotProblems(snapshot);
    if (problems.length > 0) throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `DNS snapshot: ${problems.join('; ')}`, { field: 'routerAddress' });
    return new Zone(snapshot);
  }

  /** Answers from now on come from `snapshot` (a query being answered keeps the one it began with). */
  update(snapshot: DnsSnapshot): void {
    this.zone = DnsServer.zoneOf(snapshot);
  }

  /** Where the server listens, once started. */
  address(): { host: string; port: number } | undefined {
    return this.bound === undefined ? undefined : { ...this.bound };
  }

  stats(): DnsServerStats {
    return { ...this.counters };
  }

  async start(): Promise<void> {
    if (this.bound !== undefined) return;
    const { host, port } = this.options;
    // With port 0 the UDP port is picked first; TCP may find it taken, so try a few.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(host, port);
      const udpPort = udp.address().port;
      try {
        this.tcp = await this.listenTcp(host, udpPort);
      } catch (err) {
        udp.close();
        if (port === 0 && attempt < 5 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw this.listenError(err, 'TCP', udpPort);
      }
      this.udp = udp;
      this.bound = { host, port: udpPort };
      this.options.logger.info({ host, port: udpPort, domain: this.zone.domain }, 'dns server listening');
      return;
    }
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    this.bound = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all([
      udp === undefined ? undefined : new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp === undefined ? undefined : new Promise<void>((resolve) => tcp.close(() => resolve())),
    ]);
  }

  private listenError(err: unknown, transport: string, port: number): CapstanError {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return new CapstanError(
      'CAPSTAN_ERR_CONFIG_INVALID',
      `the DNS server could not listen on ${transport} ${this.options.host}:${port} (${code}): choose a free port, or an address of this host`,
      { cause: err, field: 'port' },
    );
  }

  private bindUdp(host: string, port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      const onError = (err: Error): void => {
        sock.close();
        reject(this.listenError(err, 'UDP', port));
      };
      sock.once('error', onError);
      sock.bind(port, host, () => {
        sock.off('error', onError);
        sock.on('error', (err) => this.options.logger.warn({ err }, 'dns udp socket error'));
        sock.on('message', (msg, rinfo) => this.onUdp(sock, msg, rinfo));
        resolve(sock);
      });
    });
  }

  private listenTcp(host: string, port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.onTcp(socket));
      server.maxConnections = this.options.maxTcpConnections ?? 128;
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.options.logger.warn({ err }, 'dns tcp listener error'));
        resolve(server);
      });
    });
  }

  private drop(transport: string, why: string, from: string): void {
    this.counters.dropped++;
    this.options.logger.debug({ transport, from, why }, 'dns packet dropped');
  }

  /** The response bytes for one query packet, or undefined to drop it. */
  private async respond(buf: Buffer, transport: 'udp' | 'tcp', from: string): Promise<Buffer | undefined> {
    const parsed = parseQuery(buf);
    if ('drop' in parsed) {
      this.drop(transport, parsed.drop, from);
      return undefined;
    }
    if ('reply' in parsed) return rcodeOnly(parsed.reply);
    if (this.inFlight >= (this.options.maxInFlight ?? 512)) {
      this.drop(transport, 'too many queries in flight', from);
      return undefined;
    }
    const { request } = parsed;
    this.inFlight++;
    try {
      const zone = this.zone;
      const question = { name: request.question.name, type: request.question.type };
      const resolution = await answer(zone, question, this.options.upstream);
      if (!resolution.authoritative && this.options.upstream !== undefined) this.counters.forwarded++;
      const limit = transport === 'udp' ? udpLimit(request.ednsSize) : TCP_LIMIT;
      const { bytes, truncated } = encodeResponse(request, resolution, limit, this.options.upstream !== undefined);
      if (truncated) this.counters.truncated++;
      return bytes;
    } catch (err) {
      // An answer that cannot be encoded (e.g. an upstream's name over 255 bytes).
      this.options.logger.debug({ err, transport, from }, 'dns response could not be encoded');
      this.counters.dropped++;
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.udpQueries++;
    void this.respond(msg, 'udp', `${rinfo.address}:${rinfo.port}`).then((bytes) => {
      if (bytes === undefined || this.udp !== sock) return;
      sock.send(bytes, rinfo.port, rinfo.address, (err) => {
        if (err) this.options.logger.debug({ err }, 'dns udp answer not sent');
      });
    });
  }

  private onTcp(socket: net.Socket): void {
    this.sockets.add(socket);
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? 10_000, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    let pending: Buffer = Buffer.alloc(0);
    // One query answered at a time per connection, in order.
    let chain: Promise<void> = Promise.resolve();
    let queued = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (len < 12) {
          this.drop('tcp', 'frame shorter than a DNS header', from);
          socket.destroy();
          return;
        }
        if (pending.length < 2 + len) break;
        const frame = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        this.counters.tcpQueries++;
        if (++queued > MAX_TCP_QUEUED) {
          this.drop('tcp', 'too many queries waiting on one connection', from);
          socket.destroy();
          return;
        }
        chain = chain.then(async () => {
          queued--;
          const bytes = await this.respond(Buffer.from(frame), 'tcp', from);
          if (socket.destroyed) return;
          if (bytes === undefined) {
            socket.destroy();
            return;
          }
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(bytes.length, 0);
          socket.write(Buffer.concat([prefix, bytes]));
        });
      }
    });
  }
}
