// Stored objects for the API tests, shaped as src/api/cluster.ts describes them.
import type { NodeInfo, Pod } from '../../src/api/cluster.js';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import type { KV } from '../../src/store/index.js';

export function pod(namespace: string, name: string, node: string | undefined, phase: Pod['status']['phase'] = 'Running'): Pod {
  return {
    metadata: {
      name,
      namespace,
      labels: { app: name.split('-')[0]! },
      owner: { kind: 'Deployment', name: name.split('-')[0]!, revision: 'abc123' },
      createdAt: '2024-01-01T00:00:00.000Z',
    },
    spec: {
      containers: [{ name: 'main', image: 'web:1' }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      ...(node ? { nodeName: node } : {}),
    } as Pod['spec'],
    status: { phase, ready: phase === 'Running' },
  };
}

export function nodeBody(name: string): Omit<NodeInfo, 'status'> & { status: Partial<NodeInfo['status']> } {
  return {
    name,
    labels: { zone: 'a' },
    capacity: { cpu: 4000, memory: 8 * 1024 ** 3, pods: 110 },
    runtime: 'process',
    status: { ready: true, address: '127.0.0.1' },
  };
}

export function deployment(namespace: string, name: string, image = 'web:1'): Record<string, unknown> {
  return {
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } } },
    },
    source: { file: `apps/${name}.yaml`, index: 0, line: 1, column: 1 },
  };
}

export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  return (await kv.put(key, JSON.stringify(value))).revision;
}

export async function seed(kv: KV): Promise<void> {
  await putJson(kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
  await putJson(kv, `${STORE_PREFIX.pods}default/web-2`, pod('default', 'web-2', 'node-b'));
  await putJson(kv, `${STORE_PREFIX.pods}shop/cart-1`, pod('shop', 'cart-1', 'node-a'));
  await putJson(kv, `${STORE_PREFIX.pods}shop/cart-2`, pod('shop', 'cart-2', undefined, 'Pending'));
  await putJson(kv, `${STORE_PREFIX.desired}Deployment/default/web`, deployment('default', 'web'));
  await putJson(kv, `${STORE_PREFIX.status}Deployment/default/web`, {
    phase: 'Healthy',
    revision: 2,
    replicas: 3,
    readyReplicas: 3,
    updatedReplicas: 3,
    syncedCommit: 'deadbeef',
    message: 'all replicas ready',
  });
  await putJson(kv, `${STORE_PREFIX.desired}Deployment/shop/cart`, deployment('shop', 'cart'));
  await putJson(kv, `${STORE_PREFIX.desired}Service/default/web`, {
    object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } },
    source: { file: 'apps/web.yaml', index: 1, line: 20, column: 1 },
  });
}
