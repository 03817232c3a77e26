// Shared by the scheduling and node lifecycle tests: nodes registered through the real API
// (so they hold a real lease) and pods written the way the revision controller writes them.
import type { Pod } from '../../src/api/cluster.js';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import type { KV } from '../../src/store/index.js';
import { call } from '../helpers/api.js';

export const GI = 1024 ** 3;

export async function registerNode(url: string, token: string, name: string, capacity: { cpu: number; memory: number; pods?: number }, labels: Record<string, string> = {}): Promise<void> {
  const r = await call(url, 'PUT', `/api/v1/nodes/${name}`, {
    token,
    body: { name, labels, capacity: { pods: 110, ...capacity }, runtime: 'process', status: { ready: true, address: '127.0.0.1' } },
  });
  if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${r.text}`);
}

export function pod(name: string, options: { cpu?: string; memory?: string; owner?: string; nodeSelector?: Record<string, string>; nodeName?: string; hostPort?: number; createdAt?: string } = {}): Pod {
  const requests: Record<string, string> = {};
  if (options.cpu) requests.cpu = options.cpu;
  if (options.memory) requests.memory = options.memory;
  return {
    metadata: {
      name,
      namespace: 'default',
      labels: { app: options.owner ?? name },
      owner: { kind: 'Deployment', name: options.owner ?? name, revision: 'r1' },
      createdAt: options.createdAt ?? new Date(0).toISOString(),
    },
    spec: {
      containers: [
        {
          name: 'main',
          image: 'app:1',
          resources: { requests },
          ...(options.hostPort ? { ports: [{ containerPort: 8080, hostPort: options.hostPort }] } : {}),
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      ...(options.nodeSelector ? { nodeSelector: options.nodeSelector } : {}),
      ...(options.nodeName ? { nodeName: options.nodeName } : {}),
    },
    status: { phase: 'Pending', ready: false },
  };
}

export async function putPod(kv: KV, p: Pod): Promise<void> {
  await kv.put(`${STORE_PREFIX.pods}${p.metadata.namespace}/${p.metadata.name}`, JSON.stringify(p));
}

export async function readPods(kv: KV): Promise<Map<string, Pod>> {
  const r = await kv.range(STORE_PREFIX.pods, { prefix: true });
  return new Map(r.kvs.map((k) => {
    const p = JSON.parse(Buffer.from(k.value).toString('utf8')) as Pod;
    return [p.metadata.name, p];
  }));
}
