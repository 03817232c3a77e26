// The cluster CA and its certificates, checked by Node's own X.509 and TLS code: a client that
// trusts the CA connects to a server with an issued certificate; one that trusts another CA,
// or asks for a host the certificate does not name, is refused.
import { X509Certificate } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFingerprint, certificateInfo, createCA, ensureClusterPki, formatJoinToken, issueCertificate, issuedBy, parseJoinToken, type CertifiedKey } from '../../src/pki/index.js';
import { tempDir } from '../helpers/git.js';

function get(port: number, ca: string, servername = 'localhost', cert?: CertifiedKey): Promise<{ status: number; peer?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername, path: '/', ca, ...(cert ? { cert: cert.cert, key: cert.key } : {}), agent: false }, (res) => {
      const cn = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN;
      const peer = Array.isArray(cn) ? cn[0] : cn;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(peer ? { peer } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let ca: CertifiedKey;
let other: CertifiedKey;
beforeAll(async () => {
  [ca, other] = await Promise.all([createCA(), createCA({ commonName: 'someone else' })]);
});

describe('cluster CA', () => {
  it('is a CA that signs only leaves, and Node reads it', async () => {
    const info = certificateInfo(ca.cert);
    expect(info).toMatchObject({ isCA: true, commonName: 'Capstan cluster CA' });
    expect(new X509Certificate(ca.cert).ca).toBe(true);
    expect(info.fingerprint).toBe(new X509Certificate(ca.cert).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(info.notAfter.getTime() - Date.now()).toBeGreaterThan(3000 * 86_400_000);
  });

  it('issues a server certificate Node verifies against the CA, for its hosts only', async () => {
    const leaf = await issueCertificate(ca, { commonName: 'capstan-api', hosts: ['localhost', '127.0.0.1', 'cp-1.internal'], usage: 'server' });
    const x = new X509Certificate(leaf.cert);
    expect(x.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(x.verify(new X509Certificate(other.cert).publicKey)).toBe(false);
    expect(x.checkHost('cp-1.internal')).toBe('cp-1.internal');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkHost('elsewhere.example')).toBeUndefined();
    expect(x.ca).toBe(false);
    expect(await issuedBy(leaf.cert, ca.cert)).toBe(true);
    expect(await issuedBy(leaf.cert, other.cert)).toBe(false);
    // Past its end it no longer verifies.
    expect(await issuedBy(leaf.cert, ca.cert, new Date(Date.now() + 400 * 86_400_000))).toBe(false);
  });

  it('serves TLS that a client trusting the CA accepts, and mutual TLS with a node certificate', async () => {
    const serverCert = await issueCertificate(ca, { commonName: 'capstan-api', hosts: ['localhost', '127.0.0.1'], usage: 'server' });
    const node = await issueCertificate(ca, { commonName: 'node-2', organization: 'agent', usage: 'client' });
    const stranger = await issueCertificate(other, { commonName: 'node-2', usage: 'client' });
    const server = createServer({ cert: serverCert.cert, key: serverCert.key, ca: ca.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const sock = req.socket as import('node:tls').TLSSocket;
      res.writeHead(sock.authorized ? 200 : 401).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await get(port, ca.cert)).toMatchObject({ status: 401, peer: 'capstan-api' }); // no client certificate
      expect(await get(port, ca.cert, 'localhost', node)).toMatchObject({ status: 200 });
      expect(await get(port, ca.cert, 'localhost', stranger)).toMatchObject({ status: 401 });
      await expect(get(port, other.cert)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
      await expect(get(port, ca.cert, 'not-the-server.example')).rejects.toThrow(/altnames|Hostname/i);
    } finally {
      server.close();
    }
  });
});

describe('pki files', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('capstan-pki-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes the CA once, keeps it, and issues the server certificate again when hosts change or it ages', async () => {
    const first = await ensureClusterPki({ dataDir: dir, hosts: ['cp-1.internal'] });
    expect(first.made).toBe('all');
    expect(statSync(first.paths.caKey).mode & 0o777).toBe(0o600);
    expect(statSync(first.paths.serverKey).mode & 0o777).toBe(0o600);
    expect(statSync(first.paths.dir).mode & 0o777).toBe(0o700);
    expect(certificateInfo(first.server.cert).dnsNames).toEqual(['localhost', 'cp-1.internal']);

    const again = await ensureClusterPki({ dataDir: dir, hosts: ['cp-1.internal'] });
    expect(again.made).toBe('none');
    expect(again.caFingerprint).toBe(first.caFingerprint);
    expect(again.server.cert).toBe(first.server.cert);

    const moreHosts = await ensureClusterPki({ dataDir: dir, hosts: ['cp-1.internal', '127.0.0.2'] });
    expect(moreHosts.made).toBe('server');
    expect(moreHosts.caFingerprint).toBe(first.caFingerprint);
    expect(certificateInfo(moreHosts.server.cert).ipAddresses).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(await issuedBy(moreHosts.server.cert, first.ca.cert)).toBe(true);

    const later = await ensureClusterPki({ dataDir: dir, hosts: ['cp-1.internal', '127.0.0.2'], now: new Date(Date.now() + 300 * 86_400_000) });
    expect(later.made).toBe('server');
  });
});

describe('join tokens', () => {
  it('carry the CA fingerprint and the API token, and refuse anything altered without echoing it', () => {
    const fp = certificateFingerprint(ca.cert);
    const text = formatJoinToken({ caFingerprint: fp, token: 'capstan_abc-DEF_123' });
    expect(text).toBe(`CAPSTAN-1-${fp}-capstan_abc-DEF_123`);
    expect(parseJoinToken(text)).toEqual({ caFingerprint: fp, token: 'capstan_abc-DEF_123' });
    expect(() => parseJoinToken('capstan_secretvalue')).toThrow(/not a join token/);
    expect(() => parseJoinToken(`CAPSTAN-1-${fp.slice(0, 60)}-capstan_secretvalue`)).toThrow(/cut short or altered/);
    try {
      parseJoinToken('capstan_secretvalue');
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('secretvalue');
    }
  });
});
