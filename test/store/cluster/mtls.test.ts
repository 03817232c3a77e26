// Mutual TLS between the members of a Raft group on 127.0.0.1: three members with https://
// peer URLs and one shared CA elect a leader and replicate; a caller whose certificate comes
// from another CA is refused at the handshake and the group is left alone; a plain HTTP
// request on a peer port gets nowhere; half a CA on disk fails the start with a clear error.
import { copyFile, mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../../src/common/index.js';
import { createCA, ensureClusterPki, issueCertificate, type CertifiedKey } from '../../../src/pki/index.js';
import { checkClusterCa, memberIdFor, openClusterStore, parsePeers, type ClusterStore, type PeerSpec } from '../../../src/store/cluster/index.js';
import { HttpTransport } from '../../../src/store/cluster/transport.js';
import { freePort } from '../../../src/store/etcd/local.js';

const TOKEN = 'test-cluster-token-0123456789';

interface LogLine {
  msg: string;
  member?: string;
  remote?: string;
  peer?: string;
  [k: string]: unknown;
}

function collector(): { logger: Logger; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (l: string) => void (raw.push(l), lines.push(JSON.parse(l) as LogLine)) });
  return { logger, lines, raw };
}

async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString('utf8') : undefined);

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('Raft group over mutual TLS on 127.0.0.1', () => {
  const names = ['a', 'b', 'c'];
  const stores = new Map<string, ClusterStore>();
  const log = collector();
  let root: string;
  let peers: PeerSpec[];
  let groupCa: CertifiedKey;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'capstan-mtls-'));
    peers = [];
    for (const name of names) peers.push({ name, url: `https://127.0.0.1:${await freePort()}` });
    // The first member makes the CA; the others get a copy of ca.crt and ca.key.
    const made = await ensureClusterPki({ dataDir: join(root, 'a') });
    groupCa = made.ca;
    for (const name of names.slice(1)) {
      await mkdir(join(root, name, 'pki'), { recursive: true });
      await copyFile(made.paths.caCert, join(root, name, 'pki', 'ca.crt'));
      await copyFile(made.paths.caKey, join(root, name, 'pki', 'ca.key'));
    }
    await Promise.all(
      names.map(async (name) => {
        await checkClusterCa(join(root, name, 'pki'), { name, peers });
        const s = await openClusterStore({
          name,
          peers,
          token: TOKEN,
          dir: join(root, name, 'store'),
          pkiDir: join(root, name, 'pki'),
          logger: log.logger,
          tickMs: 20,
          electionTicks: 10,
        });
        stores.set(name, s);
      }),
    );
  });

  afterAll(async () => {
    for (const s of stores.values()) await s.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function leader(): Promise<ClusterStore> {
    return waitFor(() => {
      const open = [...stores.values()];
      const leaders = new Set(open.map((s) => s.member.leader));
      return leaders.size === 1 && !leaders.has(undefined) ? open.find((s) => s.member.isLeader) : undefined;
    }, 'a leader');
  }

  it('elects a leader and replicates a write between members presenting certificates of the shared CA', async () => {
    const l = await leader();
    const follower = [...stores.values()].find((s) => s !== l)!;
    expect(follower.member.peerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const put = await follower.kv.put('/mtls', 'replicated');
    expect(put.revision).toBeGreaterThan(0);
    for (const s of stores.values()) {
      await waitFor(async () => text((await s.serializable.get('/mtls'))?.value) === 'replicated', `replication to ${s.member.name}`);
    }
    expect(log.lines.filter((l) => /TLS handshake/.test(l.msg))).toEqual([]);
  });

  it('refuses at the handshake a caller whose certificate is from another CA, logs it once, and the group goes on', async () => {
    const l = await leader();
    const before = new Map([...stores].map(([n, s]) => [n, s.member.status().term]));
    const leaderName = l.member.name;
    const foreignCa = await createCA({ commonName: 'another cluster' });
    const foreign = await issueCertificate(foreignCa, { commonName: 'd', hosts: ['127.0.0.1'], usage: 'both' });
    const intruderLog = collector();
    const groupPeers = new Map(peers.map((p) => [memberIdFor(p.name), p.url]));
    const received: unknown[] = [];
    const handlers = {
      messages: (ms: unknown[]) => void received.push(...ms),
      propose: () => Promise.reject(new Error('no')),
      membership: () => Promise.reject(new Error('no')),
      status: () => ({}),
    };
    // Everything but the certificate is right: the token, the cluster id, and trust in the group's CA.
    const intruder = new HttpTransport({
      selfId: memberIdFor('d'),
      clusterId: l.clusterId,
      token: TOKEN,
      port: 0,
      peers: groupPeers,
      tls: { ca: groupCa.cert, cert: foreign.cert, key: foreign.key },
      handlers,
      logger: intruderLog.logger,
      requestTimeoutMs: 2000,
    });
    await intruder.start();
    try {
      const leaderId = memberIdFor(leaderName);
      for (let i = 0; i < 3; i++) {
        const err = await failure(intruder.peerStatus(leaderId));
        expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_STORE_UNAVAILABLE');
      }
      // A heartbeat from a far later term: a member that read it would change its term.
      for (const id of groupPeers.keys()) {
        intruder.send([{ type: 'heartbeat', from: memberIdFor('d'), to: id, term: 10_000, commit: 0 }]);
      }
      await waitFor(
        () => log.lines.some((x) => x.member === leaderName && /refused a peer connection at the TLS handshake/.test(x.msg)),
        'the leader to log the refused handshake',
      );
      await waitFor(() => intruderLog.lines.filter((x) => /TLS handshake with the peer failed/.test(x.msg)).length >= names.length, 'the intruder to see every refusal');
      await new Promise((r) => setTimeout(r, 300));

      // Once per peer, on both sides.
      const refusedBy = log.lines.filter((x) => /refused a peer connection at the TLS handshake/.test(x.msg));
      expect(refusedBy.filter((x) => x.member === leaderName)).toHaveLength(1);
      expect(refusedBy[0]!.msg).toMatch(/not signed by the cluster CA/);
      const seen = intruderLog.lines.filter((x) => /TLS handshake with the peer failed/.test(x.msg));
      expect(new Set(seen.map((x) => x.peer)).size).toBe(seen.length);
      // No key material in any log line.
      for (const line of [...log.raw, ...intruderLog.raw]) {
        expect(line).not.toContain('PRIVATE KEY');
        expect(line).not.toContain(TOKEN);
      }

      // The group is undisturbed: same leader, same terms, and it still takes writes.
      for (const [n, s] of stores) expect(s.member.status().term).toBe(before.get(n));
      expect(l.member.isLeader).toBe(true);
      const put = await [...stores.values()].find((s) => s !== l)!.kv.put('/after-intruder', 'ok');
      expect(put.revision).toBeGreaterThan(0);
    } finally {
      await intruder.stop();
    }

    // The control: the same caller with a certificate of the group's CA is let through.
    const proper = await issueCertificate(groupCa, { commonName: 'd', hosts: ['127.0.0.1'], usage: 'both' });
    const admitted = new HttpTransport({
      selfId: memberIdFor('d'),
      clusterId: l.clusterId,
      token: TOKEN,
      port: 0,
      peers: groupPeers,
      tls: { ca: groupCa.cert, cert: proper.cert, key: proper.key },
      handlers,
      requestTimeoutMs: 2000,
    });
    await admitted.start();
    try {
      const status = (await admitted.peerStatus(memberIdFor(leaderName))) as { name?: string };
      expect(status.name).toBe(leaderName);
      // Requests that reuse the pooled connection leave no listener behind on its socket.
      const warnings: Error[] = [];
      const onWarning = (w: Error) => void warnings.push(w);
      process.on('warning', onWarning);
      try {
        for (let i = 0; i < 30; i++) await admitted.peerStatus(memberIdFor(leaderName));
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
    } finally {
      await admitted.stop();
    }
    expect(received).toEqual([]);
  });

  it('refuses a certificate of the CA that names another member than the caller claims to be', async () => {
    const l = await leader();
    const wrongName = await issueCertificate(groupCa, { commonName: 'c', hosts: ['127.0.0.1'], usage: 'both' });
    const t = new HttpTransport({
      selfId: memberIdFor('d'),
      clusterId: l.clusterId,
      token: TOKEN,
      port: 0,
      peers: new Map(peers.map((p) => [memberIdFor(p.name), p.url])),
      tls: { ca: groupCa.cert, cert: wrongName.cert, key: wrongName.key },
      handlers: { messages: () => undefined, propose: () => Promise.reject(new Error('no')), membership: () => Promise.reject(new Error('no')), status: () => ({}) },
      requestTimeoutMs: 2000,
    });
    await t.start();
    try {
      const err = await failure(t.peerStatus(memberIdFor(l.member.name)));
      expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_STORE_AUTH');
    } finally {
      await t.stop();
    }
  });

  it('refuses a plain HTTP request on an https peer port, even with the right token', async () => {
    const l = await leader();
    const url = new URL(l.member.peerUrl);
    const outcome = await new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: Number(url.port),
          method: 'GET',
          path: '/raft/v1/status',
          headers: { authorization: `Bearer ${TOKEN}`, 'x-capstan-cluster': l.clusterId, 'x-capstan-member': memberIdFor('a').toString(16) },
          timeout: 5000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => resolve({ status: res.statusCode, error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => resolve({ error: e.message }));
      req.end();
    });
    // Either the connection is dropped or it is answered with an error; never the member's status.
    if (outcome.status !== undefined) expect(outcome.status).toBeGreaterThanOrEqual(400);
    expect(outcome.body ?? '').not.toContain('"role"');
    await waitFor(() => log.lines.some((x) => x.member === l.member.name && /plain HTTP request on the https peer port/.test(x.msg)), 'the refusal to be logged');
  });
});

describe('the cluster CA on a member with https:// peers', () => {
  it('fails the start with the files to copy when ca.key is missing, and refuses a mixed --peers list', async () => {
    const root = await mkdtemp(join(tmpdir(), 'capstan-mtls-ca-'));
    try {
      const made = await ensureClusterPki({ dataDir: root });
      await unlink(made.paths.caKey);
      const peers: PeerSpec[] = [
        { name: 'a', url: `https://127.0.0.1:${await freePort()}` },
        { name: 'b', url: `https://127.0.0.1:${await freePort()}` },
      ];
      for (const err of [
        await failure(checkClusterCa(made.paths.dir, { name: 'a', peers })),
        await failure(openClusterStore({ name: 'a', peers, token: TOKEN, pkiDir: made.paths.dir, tickMs: 20 })),
      ]) {
        expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_CONFIG_INVALID');
        expect((err as Error).message).toContain(made.paths.caCert);
        expect((err as Error).message).toContain(made.paths.caKey);
      }
      // A joining member with no CA at all may not make its own.
      const empty = join(root, 'empty');
      const joinErr = await failure(checkClusterCa(empty, { name: 'b', peers, join: true }));
      expect(isCapstanError(joinErr) && joinErr.code).toBe('CAPSTAN_ERR_CONFIG_INVALID');
      // http:// peers need no CA.
      await checkClusterCa(empty, { name: 'b', peers: parsePeers('a=http://127.0.0.1:1,b=http://127.0.0.1:2'), join: true });

      const mixed = await failure(Promise.resolve().then(() => parsePeers('a=https://127.0.0.1:7481,b=http://127.0.0.1:7482')));
      expect(isCapstanError(mixed) && mixed.code).toBe('CAPSTAN_ERR_CLI_USAGE');
      expect((mixed as Error).message).toMatch(/mixes https:\/\/ and http:\/\//);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
