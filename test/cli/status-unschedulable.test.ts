// `capstan status` says why a pod waits for a node: the scheduler's reason (cordoned nodes included).
import { describe, expect, it } from 'vitest';
import type { Pod, Revision } from '../../src/api/cluster.js';
import { buildStatusView, statusText, type RawWorkload } from '../../src/cli/status-view.js';

const raw: RawWorkload = {
  kind: 'Deployment', namespace: 'default', name: 'web', phase: 'Progressing', revision: 1, replicas: 2, readyReplicas: 1, updatedReplicas: 2,
  message: '', revisionName: 'web-abc', object: { spec: { template: { metadata: { labels: { app: 'web' } } } } },
} as RawWorkload;
const revision: Revision = {
  metadata: { name: 'web-abc', namespace: 'default', owner: { kind: 'Deployment', name: 'web' }, hash: 'abc', revision: 1, createdAt: '2026-01-01T00:00:00Z' },
  template: { metadata: { labels: {} }, spec: {} as Revision['template']['spec'] },
  replicas: 2,
};
const pod = (name: string, node: string | undefined, status: Pod['status']): Pod => ({
  metadata: { name, namespace: 'default', labels: { app: 'web' }, owner: { kind: 'Deployment', name: 'web', revision: 'abc' }, createdAt: '2026-01-01T00:00:00Z' },
  spec: { containers: [], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...(node ? { nodeName: node } : {}) } as unknown as Pod['spec'],
  status,
});

describe('status of a pod that fits nowhere', () => {
  it('shows the scheduler reason next to the unbound pod, and only there', () => {
    const reason = '0/1 nodes are available: 1 node(s) were unschedulable.';
    const view = buildStatusView(raw, {
      revisions: [revision],
      pods: [pod('web-abc-1', 'n1', { phase: 'Running', ready: true }), pod('web-abc-2', undefined, { phase: 'Pending', ready: false, reason: 'Unschedulable', message: reason })],
      services: [],
    });
    const pods = view.revisions[0]!.pods;
    expect(pods.find((p) => p.name === 'web-abc-2')!.message).toBe(reason);
    expect(pods.find((p) => p.name === 'web-abc-1')).not.toHaveProperty('message');
    const text = statusText(view);
    expect(text).toContain(`web-abc-2  <unbound>  Pending — ${reason}`);
    expect(text.split('\n').find((l) => l.includes('web-abc-1'))).not.toContain('—');
  });
});
