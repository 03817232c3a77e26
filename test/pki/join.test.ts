// Joining over TLS: an API server on 127.0.0.1 serving HTTPS with the cluster CA, the CLI
// trusting only that CA, a join token carrying its fingerprint, `capstan join` verifying it
// before sending the token, the node's certificate (requested with a key made on the node),
// and the server refusing a certificate for another node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { runJoin } from '../../src/cli/commands/join.js';
import { silentLogger } from '../../src/common/index.js';
import { NodeCertificates, needsRenewal } from '../../src/agent/node-certs.js';
import { certificateInfo, createCA, createCertificateRequest, ensureClusterPki, issuedBy, parseJoinToken, trustingFetch, type ClusterPki } from '../../src/pki/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
let pki: ClusterPki;
let t: TestApi;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'capstan-join-'));
  pki = await ensureClusterPki({ dataDir: join(dir, 'server') });
  t = await startApi({ tls: { cert: pki.server.cert, key: pki.server.key }, pki: { ca: pki.ca, caFingerprint: pki.caFingerprint } });
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const io = (printed: string[]) => ({ out: (s: string) => void printed.push(s), err: (s: string) => void printed.push(s), color: false, env: {}, cwd: dir });
const cli = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.admin, '--data-dir', join(dir, 'nothing-here')], { env: { CAPSTAN_CA: '' } });

async function agentJoinToken(node: string): Promise<string> {
  const made = await cli('token', 'create', '--role', 'agent', '--node', node, '--ca', pki.paths.caCert);
  expect(made.code, made.stderr).toBe(0);
  return made.stdout.trim();
}

describe('the API over HTTPS and capstan join', () => {
  it('serves https; the CLI trusts the cluster CA from --ca and refuses without it, saying what to pass', async () => {
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await cli('get', 'nodes', '--ca', pki.paths.caCert);
    expect(ok.code, ok.stderr).toBe(0);
    const refused = await cli('get', 'nodes');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('CAPSTAN_ERR_CLIENT_TLS');
    expect(refused.stderr).toContain('--ca');
    // Another cluster's CA: named as the wrong file.
    const other = await ensureClusterPki({ dataDir: join(dir, 'other') });
    const wrong = await cli('get', 'nodes', '--ca', other.paths.caCert);
    expect(wrong.stderr).toContain(`not signed by the CA in ${other.paths.caCert}`);
  });

  it('prints an agent token as a join token with the CA fingerprint', async () => {
    const text = await agentJoinToken('worker-0');
    expect(parseJoinToken(text).caFingerprint).toBe(pki.caFingerprint);
  });

  it('joins: verifies the server, gets a certificate for the node, registers it with an https agent port', async () => {
    const text = await agentJoinToken('worker-1');
    const stateDir = join(dir, 'worker-1');
    const printed: string[] = [];
    const abort = new AbortController();
    await runJoin(io(printed), t.url, { token: text, runtime: 'process', stateDir, logger: silentLogger(), signal: abort.signal, onStarted: () => abort.abort() });
    expect(printed.join('')).toContain('node worker-1 registered');
    const cert = readFileSync(join(stateDir, 'pki', 'node.crt'), 'utf8');
    expect(await issuedBy(cert, pki.ca.cert)).toBe(true);
    expect(certificateInfo(cert).commonName).toBe('worker-1');
    expect(statSync(join(stateDir, 'pki', 'node.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'agent.token')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(stateDir, 'pki', 'ca.crt'), 'utf8')).toBe(pki.ca.cert);
    const node = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.nodes}worker-1`))!.value).toString('utf8'));
    expect(node.status.daemonEndpoints.kubeletEndpoint.scheme).toBe('https');
  });

  it('refuses a server whose CA is not the one in the join token, before the token is sent', async () => {
    const text = await agentJoinToken('worker-3');
    const other = await createCA();
    const forged = `CAPSTAN-1-${certificateInfo(other.cert).fingerprint}-${parseJoinToken(text).token}`;
    const stateDir = join(dir, 'worker-3');
    const err = await runJoin(io([]), t.url, { token: forged, runtime: 'process', stateDir, logger: silentLogger() }).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: 'CAPSTAN_ERR_CLIENT_TLS' });
    expect((err as { message: string }).message).toContain('the token was not sent');
    expect(await t.kv.get(`${STORE_PREFIX.nodes}worker-3`)).toBeUndefined();
  });

  it('refuses plain HTTP off loopback and a join token that is not one, with usage errors', async () => {
    await expect(runJoin(io([]), 'http://cp.example:7480', { token: await agentJoinToken('worker-4') })).rejects.toThrow(/plain HTTP/);
    await expect(runJoin(io([]), t.url, { token: 'capstan_abc' })).rejects.toThrow(/not a join token/);
  });

  it("issues a node's certificate only to that node's agent token (or an admin)", async () => {
    const pinned = trustingFetch({ ca: pki.ca.cert });
    const { csr } = await createCertificateRequest('node-b');
    const ask = (token: string, node: string, body: unknown = { csr }) =>
      pinned(`${t.url}/api/v1/nodes/${node}/certificate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await ask(t.tokens.agentA, 'node-b')).status).toBe(403);
    expect((await ask(t.tokens.viewer, 'node-b')).status).toBe(403);
    expect((await ask(t.tokens.agentB, 'node-b')).status).toBe(201);
    expect((await ask(t.tokens.admin, 'node-b')).status).toBe(201);
    const garbage = await ask(t.tokens.agentB, 'node-b', { csr: 'not a request' });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: { message: string } }).error.message).toContain('csr');
    expect((await ask(t.tokens.agentB, 'node-b', { csr, hosts: ['bad host!'] })).status).toBe(400);
  });
});

describe('node certificate rotation', () => {
  it('renews once less than a third of the life is left, and keeps a fresh one', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'capstan-rotate-'));
    try {
      let clock = new Date();
      let issued = 0;
      const pinned = trustingFetch({ ca: pki.ca.cert });
      const certs = new NodeCertificates({
        stateDir,
        node: 'node-a',
        hosts: ['127.0.0.1'],
        logger: silentLogger(),
        now: () => clock,
        issue: async (request) => {
          issued++;
          const res = await pinned(`${t.url}/api/v1/nodes/node-a/certificate`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.agentA}`, 'content-type': 'application/json' }, body: JSON.stringify(request) });
          expect(res.status).toBe(201);
          return (await res.json()) as { certificate: string; ca: string; notAfter: string };
        },
      });
      const first = await certs.ensure();
      expect(issued).toBe(1);
      expect(certificateInfo(first.cert!).ipAddresses).toContain('127.0.0.1');
      expect((await certs.ensure()).cert).toBe(first.cert); // kept: plenty of life left
      expect(issued).toBe(1);
      const info = certificateInfo(first.cert!);
      clock = new Date(info.notAfter.getTime() - (info.notAfter.getTime() - info.notBefore.getTime()) / 4);
      expect(needsRenewal(first.cert!, clock)).toBe(true);
      const second = await certs.ensure();
      expect(issued).toBe(2);
      expect(second.cert).not.toBe(first.cert);
      expect(second.key).not.toBe(first.key);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
