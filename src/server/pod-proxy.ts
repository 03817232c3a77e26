// Pod logs and exec through the API server, as kube-apiserver proxies to the kubelet: the
// pod, its node, the node's agent address and proxy secret are looked up here, and the
// request is streamed (logs) or the upgraded sockets piped (exec) to that node's agent port.
//   GET  /api/v1/namespaces/{ns}/pods/{pod}/log?container=&follow=&previous=&sinceSeconds=&tailLines=&timestamps=  (viewer, deployer, admin)
//   POST /api/v1/namespaces/{ns}/pods/{pod}/exec?container=&command=..&stdin=&tty=  Upgrade: capstan-exec.v1 (deployer, admin)
// The proxy secret goes only into the Authorization header of the call to the agent; it is
// never logged and never part of an answer.
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../api/cluster.js';
import { EXEC_PROTOCOL } from '../agent/index.js';
import { CapstanError, ERROR_CODES, isCapstanError, type ErrorCode } from '../common/index.js';
import type { KV } from '../store/index.js';
import { readProxySecret } from './agent.js';
import { allowed, authenticate, forbidden } from './auth.js';
import { apiError, statusForError } from './http.js';
import type { Route } from './routes.js';

export interface PodProxyOptions {
  kv: KV;
  logger: Logger;
  /** How long to wait for the agent's answer to start (default 10 s). */
  connectTimeoutMs?: number;
  /** The cluster CA: an agent port that serves TLS must show a certificate it signed for that node. */
  ca?: string;
}

/** Where a pod's container runs and how to reach its agent. */
export interface PodTarget {
  namespace: string;
  pod: string;
  container: string;
  node: string;
  host: string;
  port: number;
  secret: string;
  /** The agent port serves TLS with the node's certificate. */
  https?: boolean;
}

const LOG_PARAMS = ['follow', 'previous', 'sinceSeconds', 'tailLines', 'timestamps'] as const;
const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

async function readJson<T>(kv: KV, key: string): Promise<T | undefined> {
  const item = await kv.get(key);
  if (!item) return undefined;
  try {
    return JSON.parse(Buffer.from(item.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The container a request names, or the pod's default one (kubectl's rules and messages). */
export function pickContainer(pod: Pod, asked: string | undefined): string {
  const main = (pod.spec.containers ?? []).map((c) => c.name);
  const init = (pod.spec.initContainers ?? []).map((c) => c.name);
  const name = pod.metadata.name;
  if (asked !== undefined && asked !== '') {
    if (main.includes(asked) || init.includes(asked)) return asked;
    throw apiError('CAPSTAN_ERR_API_CONTAINER_NAME', `container ${asked} is not valid for pod ${name}; choose one of: [${main.join(' ')}]${init.length > 0 ? ` or one of the init containers: [${init.join(' ')}]` : ''}`);
  }
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated !== undefined && (main.includes(annotated) || init.includes(annotated))) return annotated;
  if (main.length === 1) return main[0]!;
  throw apiError(
    'CAPSTAN_ERR_API_CONTAINER_NAME',
    `a container name must be specified for pod ${name}, choose one of: [${main.join(' ')}]${init.length > 0 ? ` or one of the init containers: [${init.join(' ')}]` : ''}`,
  );
}

/** The pod, its container and its node's agent endpoint and secret; clear errors when any is missing. */
export async function locatePod(kv: KV, namespace: string, name: string, container: string | undefined): Promise<PodTarget> {
  const pod = await readJson<Pod>(kv, `${STORE_PREFIX.pods}${namespace}/${name}`);
  if (!pod) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `pods "${name}" not found in namespace ${namespace}`);
  const chosen = pickContainer(pod, container);
  const nodeName = pod.spec.nodeName;
  if (!nodeName) throw apiError('CAPSTAN_ERR_API_POD_NOT_BOUND', `pod ${namespace}/${name} is not bound to a node yet (${pod.status?.phase ?? 'Pending'}): it has no logs and nothing to exec in`);
  const node = await readJson<NodeInfo>(kv, `${STORE_PREFIX.nodes}${nodeName}`);
  if (!node) throw apiError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `node ${nodeName} of pod ${namespace}/${name} is not registered`, { node: nodeName });
  const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? node.status?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.port;
  if (!host || typeof port !== 'number' || port <= 0) {
    throw apiError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `node ${nodeName} reports no agent port for logs and exec (its agent runs without one, or is older than this server)`, { node: nodeName });
  }
  const secret = await readProxySecret(kv, nodeName);
  if (!secret) throw apiError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `node ${nodeName} has no proxy secret yet: its agent has not registered with this server`, { node: nodeName });
  const https = node.status?.daemonEndpoints?.kubeletEndpoint?.scheme === 'https';
  return { namespace, pod: name, container: chosen, node: nodeName, host, port, secret, ...(https ? { https: true } : {}) };
}

function agentPath(t: PodTarget, action: 'logs' | 'exec', query: URLSearchParams): string {
  const seg = encodeURIComponent;
  const q = query.toString();
  return `/pods/${seg(t.namespace)}/${seg(t.pod)}/containers/${seg(t.container)}/${action}${q ? `?${q}` : ''}`;
}

function unreachable(t: PodTarget, cause: unknown): CapstanError {
  const why = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
  return new CapstanError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `the agent of node ${t.node} did not answer at ${t.host}:${t.port} (${why})`, { cause, context: { node: t.node } });
}

/** The agent's error answer as an API error (its code kept, a refused secret told as the node's fault). */
async function agentError(t: PodTarget, res: IncomingMessage): Promise<CapstanError> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) break;
    chunks.push(chunk as Buffer);
  }
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string; message?: string } };
    code = body.error?.code;
    message = body.error?.message;
  } catch {
    // not JSON
  }
  if (res.statusCode === 401 || code === 'CAPSTAN_ERR_AGENT_PROXY_AUTH') {
    return apiError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `the agent of node ${t.node} refused this server's proxy secret (it registered with another server, or has not heartbeated since)`, { node: t.node });
  }
  if (code !== undefined && code in ERROR_CODES && message !== undefined) return apiError(code as ErrorCode, message);
  return apiError('CAPSTAN_ERR_API_NODE_UNREACHABLE', `the agent of node ${t.node} answered HTTP ${res.statusCode}`, { node: t.node });
}

/** Sends the request to the agent; resolves with its answer (or the upgrade), rejects when it cannot be reached. */
function callAgent(
  t: PodTarget,
  method: string,
  path: string,
  timeoutMs: number,
  upgrade: boolean,
  ca: string | undefined,
): { request: ClientRequest; answer: Promise<{ res: IncomingMessage; socket?: Socket; head?: Buffer }> } {
  const options = {
    host: t.host,
    port: t.port,
    method,
    path,
    headers: { authorization: `Bearer ${t.secret}`, ...(upgrade ? { connection: 'Upgrade', upgrade: EXEC_PROTOCOL } : {}) },
  };
  // Over TLS the agent proves it is that node: its certificate, signed by the cluster CA, names it.
  const request = t.https
    ? httpsRequest({ ...options, ...(ca !== undefined ? { ca } : {}), servername: isIP(t.host) ? undefined : t.host, checkServerIdentity: (_host: string, cert: PeerCertificate) => nodeIdentity(t.node, cert) })
    : httpRequest(options);
  const answer = new Promise<{ res: IncomingMessage; socket?: Socket; head?: Buffer }>((resolve, reject) => {
    const timer = setTimeout(() => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    request.once('response', (res) => {
      clearTimeout(timer);
      resolve({ res });
    });
    request.once('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      resolve({ res, socket, head });
    });
    request.once('error', (err) => {
      clearTimeout(timer);
      reject(unreachable(t, err));
    });
  });
  request.end();
  return { request, answer };
}

/** undefined when the certificate is the node's (CN=<node>), else why not. */
function nodeIdentity(node: string, cert: PeerCertificate): Error | undefined {
  const cn = cert.subject?.CN;
  return cn === node ? undefined : new Error(`the agent port's certificate is for ${JSON.stringify(cn ?? '')}, not node ${node}`);
}

/** The log route (any read role: agents may not read logs). */
export function podProxyRoutes(options: PodProxyOptions): Route[] {
  const { kv } = options;
  const logger = options.logger.child({ component: 'pod-proxy' });
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  return [
    {
      method: 'GET',
      pattern: '/api/v1/namespaces/:namespace/pods/:name/log',
      access: 'read',
      handler: async ({ req, res, params, query }) => {
        const target = await locatePod(kv, params.namespace!, params.name!, query.get('container') ?? undefined);
        const forward = new URLSearchParams();
        for (const p of LOG_PARAMS) {
          const v = query.get(p);
          if (v !== null) forward.set(p, v);
        }
        const follow = ['1', 'true'].includes(query.get('follow') ?? '');
        const { request, answer } = callAgent(target, 'GET', agentPath(target, 'logs', forward), timeoutMs, false, options.ca);
        res.once('close', () => request.destroy());
        const { res: upstream } = await answer;
        if (upstream.statusCode !== 200) throw await agentError(target, upstream);
        if (follow) req.socket.setTimeout(0); // a quiet container is not an idle client
        const warning = upstream.headers.warning;
        res.writeHead(200, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          ...(warning ? { warning } : {}),
        });
        res.flushHeaders();
        await new Promise<void>((resolve) => {
          upstream.on('error', () => {
            res.destroy();
            resolve();
          });
          upstream.on('end', () => {
            res.end();
            resolve();
          });
          res.once('close', () => {
            upstream.destroy();
            resolve();
          });
          upstream.pipe(res, { end: false });
        });
        logger.debug({ pod: `${target.namespace}/${target.pod}`, container: target.container, node: target.node }, 'log stream ended');
        return undefined;
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/namespaces/:namespace/pods/:name/exec',
      access: 'control',
      handler: async () => {
        throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `exec needs "Connection: Upgrade" and "Upgrade: ${EXEC_PROTOCOL}"`);
      },
    },
  ];
}

/** Writes an error answer on a socket that was not upgraded, then closes it. */
export function writeSocketError(socket: Duplex, err: unknown): number {
  const status = statusForError(err);
  const body = JSON.stringify(
    isCapstanError(err) ? { error: { code: err.code, message: err.message } } : { error: { code: 'CAPSTAN_ERR_INTERNAL_ERROR', message: 'internal server error' } },
  );
  if (!socket.destroyed) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  return status;
}

/**
 * The server's 'upgrade' handler: exec (deployer or admin) is authenticated, the pod located,
 * the agent's port upgraded, then both sockets piped until either closes. Any other upgrade
 * is refused. Resolves once the sockets are joined (or the error is written).
 */
export function podExecUpgrade(options: PodProxyOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> {
  const { kv } = options;
  const logger = options.logger.child({ component: 'pod-proxy' });
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  return async (req, socket, head) => {
    socket.on('error', () => undefined);
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const m = EXEC_PATH.exec(url.pathname);
      if (!m) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no upgrade route for ${req.method} ${url.pathname}`);
      if (req.method !== 'POST') throw apiError('CAPSTAN_ERR_API_METHOD_NOT_ALLOWED', 'exec takes POST');
      const principal = await authenticate(kv, req.headers.authorization);
      if (!allowed(principal, 'control')) throw forbidden(principal, 'exec into pods');
      if ((req.headers.upgrade ?? '').toLowerCase() !== EXEC_PROTOCOL) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `exec speaks ${EXEC_PROTOCOL} only`);
      let namespace: string;
      let name: string;
      try {
        namespace = decodeURIComponent(m[1]!);
        name = decodeURIComponent(m[2]!);
      } catch {
        throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'the request URL is not valid');
      }
      const target = await locatePod(kv, namespace, name, url.searchParams.get('container') ?? undefined);
      const forward = new URLSearchParams();
      for (const c of url.searchParams.getAll('command')) forward.append('command', c);
      for (const p of ['tty', 'stdin']) {
        const v = url.searchParams.get(p);
        if (v !== null) forward.set(p, v);
      }
      const { request, answer } = callAgent(target, 'POST', agentPath(target, 'exec', forward), timeoutMs, true, options.ca);
      socket.once('close', () => request.destroy());
      const { res, socket: upstream, head: upstreamHead } = await answer;
      if (!upstream) throw await agentError(target, res);
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      upstream.setTimeout(0);
      (socket as Socket).setTimeout?.(0); // exec sessions may be quiet for long
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${EXEC_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
      if (upstreamHead && upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstream.write(head);
      upstream.on('error', () => socket.destroy());
      socket.once('close', () => upstream.destroy());
      upstream.once('close', () => {
        if (!socket.writableEnded) socket.destroy(); // ended: let what is buffered go out first
      });
      upstream.pipe(socket);
      socket.pipe(upstream);
      logger.info({ pod: `${target.namespace}/${target.pod}`, container: target.container, node: target.node, user: principal.user, program: forward.get('command') }, 'exec session opened');
    } catch (err) {
      const status = writeSocketError(socket, err);
      if (status >= 500 && status !== 502) logger.error({ err }, 'exec proxy failed');
    }
  };
}
