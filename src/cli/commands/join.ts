// `capstan join URL --token <join token>`: a new node's first contact, verified by the CA
// fingerprint the join token carries (as Swarm's SWMTKN), then the node agent.
//
//   1. GET /api/v1/pki/ca without trusting anything yet; the CA it returns must have the
//      token's sha256, or nothing more is sent (not even the token).
//   2. From then on only that CA is trusted: the server's certificate must be signed by it.
//   3. whoami with the token → the node it is bound to; a key and a certificate request made
//      here → POST /api/v1/nodes/{node}/certificate → `<state-dir>/pki/{ca,node}.crt`, node.key.
//   4. The agent runs with the CA, presents the node certificate, serves its own port with it,
//      and asks for a new one once a third of its life is left.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { CapstanError } from '../../common/errors.js';
import { NodeCertificates } from '../../agent/node-certs.js';
import { certificateFingerprint, isLoopbackHost, parseJoinToken, trustingFetch, tlsFailureCode, tlsFailureHint } from '../../pki/index.js';
import type { CliIO } from '../io.js';
import { parseAgentOptions, runAgentCommand, type AgentCommandOptions } from './agent.js';

export interface JoinOptions extends Omit<AgentCommandOptions, 'server' | 'token'> {
  token?: string;
  /** `--insecure-http`: join a plain-HTTP server off loopback (nothing is verified). */
  insecureHttp?: boolean;
}

function usage(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CLI_USAGE', message);
}

/** The CA a server hands out, fetched without verifying it (it is checked against the token next). */
export async function fetchUnverifiedCa(server: string): Promise<string> {
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await undiciFetch(`${server}/api/v1/pki/ca`, { dispatcher: insecure, signal: AbortSignal.timeout(15_000) });
    if (res.status === 404) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${server} does not hand out a cluster CA (GET /api/v1/pki/ca is 404): is it a Capstan server of this version?`);
    if (!res.ok) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `GET /api/v1/pki/ca: HTTP ${res.status}`);
    const body = (await res.json()) as { certificate?: unknown };
    if (typeof body.certificate !== 'string') throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', 'GET /api/v1/pki/ca: the answer holds no certificate');
    return body.certificate;
  } catch (cause) {
    if (cause instanceof CapstanError) throw cause;
    throw new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${server}`, { cause });
  } finally {
    await insecure.close().catch(() => undefined);
  }
}

/** Step 1–2: the server's CA, once its fingerprint is the token's. */
export async function verifiedCa(server: string, expectedFingerprint: string): Promise<string> {
  const ca = await fetchUnverifiedCa(server);
  let actual: string;
  try {
    actual = certificateFingerprint(ca);
  } catch {
    throw new CapstanError('CAPSTAN_ERR_CLIENT_TLS', `${server} answered with something that is not a CA certificate: refusing to join`);
  }
  if (actual !== expectedFingerprint) {
    throw new CapstanError(
      'CAPSTAN_ERR_CLIENT_TLS',
      `the server at ${server} has CA sha256 ${actual.slice(0, 16)}…, but the join token is for CA ${expectedFingerprint.slice(0, 16)}…: another cluster, or someone in between; the token was not sent`,
    );
  }
  return ca;
}

async function call<T>(fetcher: typeof fetch, server: string, method: string, path: string, token: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetcher(`${server}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (cause) {
    const code = tlsFailureCode(cause);
    if (code) throw new CapstanError('CAPSTAN_ERR_CLIENT_TLS', `cannot trust the Capstan server at ${server}: ${tlsFailureHint(code, 'the join token')}`, { cause });
    throw new CapstanError('CAPSTAN_ERR_CLIENT_UNREACHABLE', `cannot reach the Capstan server at ${server}`, { cause });
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 200);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON
    }
    const hint = res.status === 401 ? ' (the join token was revoked, has expired, or is for another cluster)' : '';
    throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${method} ${path}: HTTP ${res.status}: ${message}${hint}`, { context: { status: res.status } });
  }
  return JSON.parse(text) as T;
}

export async function runJoin(io: CliIO, url: string, opts: JoinOptions): Promise<void> {
  // Several URLs (a Raft group's members): the first is contacted to join, the agent uses all.
  const all = url.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u !== '');
  const server = all[0] ?? '';
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(server);
  } catch {
    throw usage(`capstan join takes the server's URL (https://host:7480), got "${url}"`);
  }
  const text = opts.token ?? io.env.CAPSTAN_JOIN_TOKEN;
  if (!text) throw usage('--token is required (or set CAPSTAN_JOIN_TOKEN): a join token from `capstan token create --role agent --node NAME`');
  const joinToken = parseJoinToken(text);
  const https = parsedUrl.protocol === 'https:';
  if (!https && !isLoopbackHost(parsedUrl.hostname) && !opts.insecureHttp) {
    throw usage(`${server} is plain HTTP: the join token would cross the network readable, and nothing proves who answers; use the server's https:// URL (or --insecure-http on a network you trust)`);
  }
  const ca = https ? await verifiedCa(server, joinToken.caFingerprint) : undefined;
  const pinned = trustingFetch(ca ? { ca } : undefined);
  const who = await call<{ role?: string; node?: string }>(pinned, server, 'GET', '/api/v1/whoami', joinToken.token);
  if (who.role !== 'agent' || !who.node) throw usage(`the join token is a ${who.role ?? 'unknown'} token; a node joins with an agent token: \`capstan token create --role agent --node NAME\``);
  if (opts.name !== undefined && opts.name !== who.node) throw usage(`the join token is bound to node ${who.node}, not ${opts.name}: drop --name or make a token for ${opts.name}`);
  const node = who.node;
  const base = { ...opts, server: all.join(','), token: joinToken.token, name: node };
  const parsed = parseAgentOptions(base, io.env, io.cwd);
  await mkdir(parsed.stateDir, { recursive: true, mode: 0o700 });
  // The token, kept for a later `capstan agent --state-dir` start (0600, like every credential).
  await writeFile(join(parsed.stateDir, 'agent.token'), `${joinToken.token}\n`, { mode: 0o600 });
  let certs: NodeCertificates | undefined;
  if (ca) {
    const logger = opts.logger ?? (await import('../../common/index.js')).createLogger();
    // The node's certificate names where the server reaches its port: the listen host, and the node's address.
    const hosts = [...new Set([parsed.listen.host, opts.address ?? ''])].filter((h) => !['0.0.0.0', '::', ''].includes(h));
    certs = new NodeCertificates({
      stateDir: parsed.stateDir,
      node,
      hosts,
      logger,
      issue: (request) => call(trustingFetch(certs?.tls ?? { ca }), server, 'POST', `/api/v1/nodes/${encodeURIComponent(node)}/certificate`, joinToken.token, request),
    });
    await certs.saveCa(ca);
    const tls = await certs.ensure();
    io.err(`capstan join: ${server} verified (CA sha256 ${joinToken.caFingerprint.slice(0, 16)}…); node ${node} has its certificate in ${certs.files.dir}\n`);
    base.logger = logger;
    base.tls = tls;
  }
  // The agent renews the certificate from here on (runAgentCommand, through its own connection).
  await runAgentCommand(io, base);
}
