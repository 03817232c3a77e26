// The DNS server on 127.0.0.1, asked by node's own resolver (c-ares) and by raw sockets.
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import * as packet from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { DnsServer, resolverUpstream, type DnsServerOptions } from '../../src/dns/index.js';
import { bigHeadless, ROUTER, snapshot } from './fixtures.js';

const running: DnsServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function startServer(options: Partial<DnsServerOptions> = {}): Promise<{ server: DnsServer; port: number }> {
  const server = new DnsServer({ host: '127.0.0.1', port: 0, snapshot: snapshot(), logger: silentLogger(), ...options });
  running.push(server);
  await server.start();
  const port = server.address()?.port;
  if (port === undefined) throw new Error('server has no address');
  return { server, port };
}

function resolverFor(port: number): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 2 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

function query(name: string, type: packet.RecordType, id = 7): Buffer {
  return packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] });
}

/** One UDP exchange; undefined when no answer comes within `ms`. */
function udpExchange(port: number, bytes: Buffer, ms = 1500): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, ms);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(bytes, port, '127.0.0.1');
  });
}

function frame(bytes: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length, 0);
  return Buffer.concat([len, bytes]);
}

/**
 * Writes `bytes` on one TCP connection and collects `count` length-prefixed answers, or those
 * that came before the server closed it (a reset is a close too).
 */
function tcpExchange(port: number, bytes: Buffer, count: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let pending = Buffer.alloc(0);
    const out: Buffer[] = [];
    sock.on('error', () => resolve(out));
    sock.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const len = pending.readUInt16BE(0);
        out.push(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
      }
      if (out.length >= count) {
        sock.end();
        resolve(out);
      }
    });
    sock.on('close', () => resolve(out));
    sock.write(bytes);
  });
}

describe('DNS server', () => {
  it('answers A for a Service with the router address and a 5 s TTL', async () => {
    const { port } = await startServer();
    const r = resolverFor(port);
    expect(await r.resolve4('web.default.svc.cluster.local', { ttl: true })).toEqual([{ address: ROUTER, ttl: 5 }]);
    expect(await r.resolve4('Web.Default.Svc')).toEqual([ROUTER]);
  });

  it('answers SRV for a named port', async () => {
    const { port } = await startServer();
    const r = resolverFor(port);
    expect(await r.resolveSrv('_http._tcp.web.default.svc.cluster.local')).toEqual([
      { name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 },
    ]);
  });

  it('says NXDOMAIN for a Service that does not exist, no data for a type a name lacks, and refuses other names', async () => {
    const { port } = await startServer();
    const r = resolverFor(port);
    expect(await errorCode(r.resolve4('nope.default.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(await errorCode(r.resolve6('web.default.svc.cluster.local'))).toBe('ENODATA');
    expect(await errorCode(r.resolve4('example.com'))).toBe('EREFUSED');
  });

  it('answers a headless Service with its ready pods, and its pods by hostname', async () => {
    const { port } = await startServer();
    const r = resolverFor(port);
    expect((await r.resolve4('db.default.svc.cluster.local')).sort()).toEqual(['127.0.2.1', '127.0.2.2']);
    expect(await r.resolve4('db-0.db.default.svc.cluster.local')).toEqual(['127.0.2.1']);
    const srv = (await r.resolveSrv('_pg._tcp.db.default.svc.cluster.local')).map((s) => `${s.name}:${s.port}`).sort();
    expect(srv).toEqual(['127-0-2-2.db.default.svc.cluster.local:5432', 'db-0.db.default.svc.cluster.local:15432']);
  });

  it('answers from the snapshot given to update from then on', async () => {
    const { server, port } = await startServer();
    const r = resolverFor(port);
    expect(await errorCode(r.resolve4('api.default.svc.cluster.local'))).toBe('ENOTFOUND');
    const next = snapshot();
    next.services.push({ namespace: 'default', name: 'api', headless: false, ports: [{ name: 'http', port: 8080 }] });
    server.update(next);
    expect(await r.resolve4('api.default.svc.cluster.local')).toEqual([ROUTER]);
    expect(() => server.update(snapshot({ routerAddress: 'not-an-ip' }))).toThrow(/routerAddress "not-an-ip"/);
    // A refused update leaves the last good snapshot.
    expect(await r.resolve4('api.default.svc.cluster.local')).toEqual([ROUTER]);
  });

  it('truncates a UDP answer over 512 bytes with TC set, and the resolver gets it whole over TCP', async () => {
    const { server, port } = await startServer({ snapshot: bigHeadless(150) });
    const raw = await udpExchange(port, query('big.default.svc.cluster.local', 'A'));
    expect(raw).toBeDefined();
    expect(raw!.length).toBeLessThanOrEqual(512);
    const decoded = packet.decode(raw!);
    expect(decoded.flag_tc).toBe(true);
    expect(decoded.id).toBe(7);

    const before = server.stats().tcpQueries;
    const all = await resolverFor(port).resolve4('big.default.svc.cluster.local');
    expect(all).toHaveLength(150);
    expect(new Set(all).size).toBe(150);
    expect(server.stats().tcpQueries).toBeGreaterThan(before);
  });

  it("sends a UDP answer up to the client's EDNS size (at most 1232 bytes), 512 without EDNS", async () => {
    // 20 pods: an answer of about 950 bytes.
    const { server, port } = await startServer({ snapshot: bigHeadless(20) });
    const plain = packet.decode((await udpExchange(port, query('big.default.svc.cluster.local', 'A')))!);
    expect([plain.flag_tc, plain.answers?.length]).toEqual([true, 0]);

    const withOpt = (size: number): Buffer =>
      packet.encode({
        type: 'query',
        id: 8,
        questions: [{ type: 'A', name: 'big.default.svc.cluster.local' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
      });
    const raw = (await udpExchange(port, withOpt(4096)))!;
    expect(raw.length).toBeGreaterThan(512);
    expect(raw.length).toBeLessThanOrEqual(1232);
    const big = packet.decode(raw);
    expect([big.flag_tc, big.answers?.length]).toEqual([false, 20]);
    expect(big.additionals?.some((a) => a.type === 'OPT')).toBe(true);
    // An EDNS size under 512 counts as 512.
    expect(packet.decode((await udpExchange(port, withOpt(100)))!).flag_tc).toBe(true);
    expect(server.stats().truncated).toBe(2);
  });

  it('answers length-prefixed queries over TCP, several on one connection', async () => {
    const { port } = await startServer({ snapshot: bigHeadless(150) });
    const answers = await tcpExchange(port, Buffer.concat([frame(query('web.default.svc.cluster.local', 'A', 1)), frame(query('big.default.svc.cluster.local', 'A', 2))]), 2);
    expect(answers).toHaveLength(2);
    const [first, second] = answers.map((a) => packet.decode(a));
    expect(first.id).toBe(1);
    expect(first.answers?.map((a) => (a as { data: string }).data)).toEqual([ROUTER]);
    expect(second.id).toBe(2);
    expect(second.flag_tc).toBe(false);
    expect(second.answers).toHaveLength(150);
  });

  it('closes an idle TCP connection and refuses connections over the cap', async () => {
    const { port } = await startServer({ tcpIdleTimeoutMs: 200, maxTcpConnections: 1 });
    const idle = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    // While the first is open, a second one is closed without an answer.
    expect(await tcpExchange(port, frame(query('web.default.svc.cluster.local', 'A')), 1)).toEqual([]);
    // The idle one is closed by the server (the test would time out otherwise).
    await closed;
    const answers = await tcpExchange(port, frame(query('web.default.svc.cluster.local', 'A')), 1);
    expect(packet.decode(answers[0]).answers).toHaveLength(1);
  });

  it('drops malformed packets and keeps answering', async () => {
    const { server, port } = await startServer();
    const good = query('web.default.svc.cluster.local', 'A');
    const broken = [
      Buffer.from('not dns at all'),
      Buffer.alloc(3),
      // A header that promises a question the packet does not hold.
      Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      // A name whose compression pointer points at itself.
      Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
      // A response sent to the server.
      packet.encode({ type: 'response', id: 3, questions: [{ type: 'A', name: 'web.default.svc.cluster.local' }] }),
    ];
    for (const b of broken) expect(await udpExchange(port, b, 300)).toBeUndefined();
    expect(server.stats().dropped).toBe(broken.length);

    // Over TCP: a short frame closes the connection; a malformed one too.
    expect(await tcpExchange(port, Buffer.from([0, 2, 1, 2]), 1)).toEqual([]);
    expect(await tcpExchange(port, frame(Buffer.from('garbage that is no dns')), 1)).toEqual([]);

    const r = resolverFor(port);
    expect(await r.resolve4('web.default.svc.cluster.local')).toEqual([ROUTER]);
    const answers = await tcpExchange(port, frame(good), 1);
    expect(packet.decode(answers[0]).answers).toHaveLength(1);
  });

  it('answers an opcode it does not serve with NOTIMP and several questions with FORMERR', async () => {
    const { port } = await startServer();
    const notify = packet.encode({ type: 'query', id: 5, flags: 4 << 11, questions: [{ type: 'SOA', name: 'cluster.local' }] });
    const a = packet.decode((await udpExchange(port, notify))!);
    expect([a.id, (a as { rcode?: string }).rcode]).toEqual([5, 'NOTIMP']);
    const two = packet.encode({
      type: 'query',
      id: 6,
      questions: [
        { type: 'A', name: 'web.default.svc.cluster.local' },
        { type: 'A', name: 'db.default.svc.cluster.local' },
      ],
    });
    const b = packet.decode((await udpExchange(port, two))!);
    expect([b.id, (b as { rcode?: string }).rcode]).toEqual([6, 'FORMERR']);
  });

  it('forwards names outside the cluster domain to an upstream', async () => {
    // The upstream is a second server whose cluster domain is another one.
    const other = await startServer({ snapshot: snapshot({ clusterDomain: 'upstream.test', routerAddress: '127.0.0.77' }) });
    const { server, port } = await startServer({ upstream: resolverUpstream(resolverFor(other.port)) });
    const r = resolverFor(port);
    expect(await r.resolve4('web.default.svc.upstream.test')).toEqual(['127.0.0.77']);
    expect(await errorCode(r.resolve4('nope.default.svc.upstream.test'))).toBe('ENOTFOUND');
    expect(await r.resolve4('web.default.svc.cluster.local')).toEqual([ROUTER]);
    expect(server.stats().forwarded).toBe(2);
  });

  it('names the address when it cannot listen', async () => {
    const { port } = await startServer();
    const second = new DnsServer({ host: '127.0.0.1', port, snapshot: snapshot(), logger: silentLogger() });
    await expect(second.start()).rejects.toThrow(new RegExp(`could not listen on UDP 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
  });
});
