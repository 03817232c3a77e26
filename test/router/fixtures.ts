// Shared pieces of the router tests: pods and Services as the store holds them, small HTTP
// backends on 127.0.0.1 that say which revision answered, and a keep-alive client.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { STORE_PREFIX, type Pod, type TrafficPolicy } from '../../src/api/cluster.js';
import type { KV } from '../../src/store/index.js';

export function pod(name: string, revision: string, port: number, opts: { ready?: boolean; labels?: Record<string, string>; namespace?: string } = {}): Pod {
  return {
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      labels: opts.labels ?? { app: 'web', 'capstan.dev/revision-hash': revision },
      owner: { kind: 'Deployment', name: 'web', revision },
      createdAt: '2026-01-01T00:00:00Z',
    },
    spec: {
      containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: 8080, name: 'http' }] }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      nodeName: 'n1',
    } as Pod['spec'],
    status: { phase: 'Running', ready: opts.ready ?? true, hostIP: '127.0.0.1', ports: { http: port } },
  };
}

export function service(name: string, ports: { name?: string; port: number; targetPort?: number | string; appProtocol?: string }[], selector = { app: 'web' }) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector, ports } };
}

export async function putService(kv: KV, svc: ReturnType<typeof service>): Promise<void> {
  await kv.put(`${STORE_PREFIX.desired}Service/default/${svc.metadata.name}`, JSON.stringify({ object: svc, source: { path: 'svc.yaml' }, commit: 'abc' }));
}

export async function putPod(kv: KV, p: Pod): Promise<void> {
  await kv.put(`${STORE_PREFIX.pods}${p.metadata.namespace}/${p.metadata.name}`, JSON.stringify(p));
}

export async function putPolicy(kv: KV, name: string, policy: TrafficPolicy): Promise<void> {
  await kv.put(`${STORE_PREFIX.traffic}default/${name}`, JSON.stringify(policy));
}

export interface Backend {
  port: number;
  /** TCP connections the backend accepted. */
  connections: number;
  requests: number;
  server: http.Server;
  close(): Promise<void>;
}

/** A backend answering `name` in the body and `x-backend`; `handler` may take over. */
export async function backend(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<Backend> {
  const b = { port: 0, connections: 0, requests: 0 } as Backend;
  const server = http.createServer((req, res) => {
    b.requests++;
    if (handler?.(req, res)) return;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name, 'x-seen-xff': String(req.headers['x-forwarded-for'] ?? '') });
      res.end(name);
    });
  });
  server.on('connection', () => b.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.port = (server.address() as AddressInfo).port;
  b.server = server;
  b.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return b;
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function get(agent: http.Agent, address: string, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host, port: Number(port), path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `count` GETs with `concurrency` in flight; returns how many answers each body got. */
export async function load(agent: http.Agent, address: string, count: number, concurrency: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const r = await get(agent, address, '/', headers);
      const key = r.status === 200 ? r.body : String(r.status);
      tally[key] = (tally[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tally;
}

/** Polls `check` until it returns true (store changes reach the router asynchronously). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
