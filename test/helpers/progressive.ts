// Shared parts of the progressive-delivery end-to-end tests: a backend `node -e` HTTP server
// (its version in the body, FAIL=1 answers 500), Rollout / Service / AnalysisTemplate
// manifests as JSON (YAML reads them as flow style), the rollout's stored status and traffic
// policy, and keep-alive HTTP load through the router recording every reply.
import { Agent, request } from 'node:http';
import { STORE_PREFIX, type TrafficPolicy } from '../../src/api/cluster.js';
import type { StoredWorkloadStatus } from '../../src/controllers/workload/index.js';
import type { KV } from '../../src/store/types.js';
import { workloadPods } from './cluster.js';

const SERVER = [
  "const http=require('http');",
  'const v=process.env.VERSION;const fail=process.env.FAIL===\'1\';',
  "http.createServer((q,s)=>{if(q.url==='/healthz'){s.end('ok');return;}if(fail)s.statusCode=500;s.end(v);})",
  ".listen(Number(process.env.PORT),'127.0.0.1');",
  "process.on('SIGTERM',()=>setTimeout(()=>process.exit(0),200));",
].join('');

export interface RolloutSpec {
  name: string;
  version: string;
  fail?: boolean;
  replicas?: number;
  strategy: Record<string, unknown>;
}

/** A Rollout of the backend, as JSON. */
export function rollout(r: RolloutSpec): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: r.name },
    spec: {
      replicas: r.replicas ?? 2,
      selector: { matchLabels: { app: r.name } },
      strategy: r.strategy,
      template: {
        metadata: { labels: { app: r.name } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'main',
              image: 'node:20',
              command: [process.execPath, '-e', SERVER],
              env: [
                { name: 'VERSION', value: r.version },
                { name: 'FAIL', value: r.fail ? '1' : '0' },
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
}

export function service(name: string, app: string, port: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app }, ports: [{ name: 'http', port, targetPort: 'http' }] },
  });
}

/**
 * The router's success rate of the revision under analysis, on `svc`, over the last 5 s;
 * `extra` adds metric fields (noDataPolicy, minRequests, count...).
 */
export function successRateTemplate(name: string, svc: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name },
    spec: {
      metrics: [
        {
          name: 'success-rate',
          interval: '1s',
          count: 3,
          failureLimit: 0,
          successCondition: 'result >= 0.95',
          provider: { capstan: { metric: 'successRate', service: svc, window: '5s' } },
          ...extra,
        },
      ],
    },
  });
}

export const docs = (...d: string[]): string => `${d.join('\n---\n')}\n`;

function decode<T>(value: Uint8Array): T {
  return JSON.parse(Buffer.from(value).toString('utf8')) as T;
}

export async function rolloutStatus(kv: KV, name: string): Promise<StoredWorkloadStatus | undefined> {
  const v = await kv.get(`${STORE_PREFIX.status}Rollout/default/${name}`);
  return v ? decode<StoredWorkloadStatus>(v.value) : undefined;
}

export async function trafficPolicy(kv: KV, svc: string): Promise<TrafficPolicy | undefined> {
  const v = await kv.get(`${STORE_PREFIX.traffic}default/${svc}`);
  return v ? decode<TrafficPolicy>(v.value) : undefined;
}

/** The operators' and analysis runner's override record of a Rollout. */
export async function rolloutOverride(kv: KV, name: string): Promise<{ analysis?: { phase: string; key?: string; message?: string }; abortedHash?: string } | undefined> {
  const v = await kv.get(`/capstan/overrides/Rollout/default/${name}`);
  return v ? decode(v.value) : undefined;
}

export const hashOf = (name: string, st: StoredWorkloadStatus | undefined): string | undefined => st?.revisionName?.slice(name.length + 1);

/** Healthy, every pod ready, all of them of the current revision. */
export async function healthy(kv: KV, name: string, replicas = 2): Promise<boolean> {
  const st = await rolloutStatus(kv, name);
  if (st?.phase !== 'Healthy' || st.readyReplicas !== replicas) return false;
  const pods = (await workloadPods(kv, name)).filter((p) => !p.status?.terminatedAt);
  return pods.length === replicas && pods.every((p) => p.status?.ready === true && p.metadata.owner.revision === hashOf(name, st));
}

export interface Reply {
  /** When the request was sent and when its reply ended (ms since the epoch). */
  sentAt: number;
  at: number;
  /** HTTP status, 0 when the request failed without one. */
  status: number;
  body: string;
}

export const CONCURRENCY = 20;

/**
 * `concurrency` keep-alive clients sending GET / to the router's port until stopped (at most
 * `maxMs`), recording every reply in completion order.
 */
export function startLoad(port: number, concurrency = CONCURRENCY, maxMs = 45_000): { replies: Reply[]; stop(): Promise<Reply[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = [];
  const deadline = Date.now() + maxMs;
  let stopped = false;
  const one = (): Promise<Reply> =>
    new Promise((resolve) => {
      const sentAt = Date.now();
      const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ sentAt, at: Date.now(), status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ sentAt, at: Date.now(), status: 0, body: '' }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ sentAt, at: Date.now(), status: 0, body: err.message }));
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < deadline) replies.push(await one());
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  return {
    replies,
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return replies;
    },
  };
}

export const count = (rs: readonly Reply[], f: (r: Reply) => boolean): number => rs.filter(f).length;

export async function getBody(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch {
    return undefined;
  }
}
