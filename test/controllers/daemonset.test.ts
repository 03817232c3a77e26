import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type NodeInfo } from '../../src/api/cluster.js';
import type { DaemonSet, ManifestObject } from '../../src/api/index.js';
import { daemonSetController, targetNode, type DaemonSetStatus } from '../../src/controllers/daemonset/index.js';
import { seeded } from '../helpers/fake-kubelet.js';
import { appsHarness, node, type AppsHarness } from './apps-harness.js';

const open: AppsHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(nodes: NodeInfo[]): Promise<AppsHarness> {
  const h = await appsHarness((kv, clock) => daemonSetController({ kv, clock, random: seeded(3), resyncMs: 0 }), { terminateAfterMs: 1000 }, targetNode);
  open.push(h);
  for (const n of nodes) await putNode(h, n);
  return h;
}

const putNode = (h: AppsHarness, n: NodeInfo) => h.kv.put(`${STORE_PREFIX.nodes}${n.name}`, JSON.stringify(n));

function ds(image: string, spec: Partial<DaemonSet['spec']> = {}, podSpec: Record<string, unknown> = {}): ManifestObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'main', image }], ...podSpec } },
      ...spec,
    },
  };
}

const status = (h: AppsHarness) => h.status<DaemonSetStatus>('DaemonSet', 'agent');
/** Active pods by the node they are for. */
async function byNode(h: AppsHarness): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of await h.pods()) {
    if (p.metadata.deletionRequestedAt !== undefined) continue;
    const n = targetNode(p)!;
    expect(out[n], `two pods for ${n}`).toBeUndefined();
    out[n] = p.spec.containers[0]!.image;
  }
  return out;
}
const settledOn = (h: AppsHarness, nodes: string[], image = 'agent:1') => async () => {
  const pods = await h.pods();
  const s = await status(h);
  return (
    pods.length === nodes.length &&
    pods.every((p) => p.status.ready && p.spec.containers[0]!.image === image && nodes.includes(p.spec.nodeName ?? '')) &&
    s?.numberReady === nodes.length &&
    s.desiredNumberScheduled === nodes.length
  );
};
const worker = (name: string, extra: Partial<NodeInfo> = {}) => node(name, { labels: { 'kubernetes.io/hostname': name, role: 'worker' }, ...extra });

describe('DaemonSet controller', () => {
  it('runs one pod on each node matching nodeSelector, made for its node with node affinity', async () => {
    const h = await start([worker('n1'), worker('n2'), node('n3')]);
    await h.apply(ds('agent:1', {}, { nodeSelector: { role: 'worker' } }));
    await h.drive(settledOn(h, ['n1', 'n2']));
    expect(await byNode(h)).toEqual({ n1: 'agent:1', n2: 'agent:1' });
    const pod = (await h.pods()).find((p) => p.spec.nodeName === 'n2')!;
    expect(pod.metadata.owner.kind).toBe('DaemonSet');
    expect(pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] },
    ]);
    expect(pod.spec.tolerations).toContainEqual({ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' });
    expect(await status(h)).toMatchObject({
      kind: 'DaemonSet',
      phase: 'Healthy',
      desiredNumberScheduled: 2,
      currentNumberScheduled: 2,
      numberReady: 2,
      updatedNumberScheduled: 2,
      numberMisscheduled: 0,
    });
  });

  it('a new node gets a pod; a removed or no longer matching node loses its pod', async () => {
    const h = await start([worker('n1')]);
    await h.apply(ds('agent:1', {}, { nodeSelector: { role: 'worker' } }));
    await h.drive(settledOn(h, ['n1']));
    await putNode(h, worker('n2'));
    await putNode(h, worker('n3'));
    await h.drive(settledOn(h, ['n1', 'n2', 'n3']));
    await h.kv.delete(`${STORE_PREFIX.nodes}n2`);
    await putNode(h, node('n3')); // its role label is gone
    await h.drive(settledOn(h, ['n1']));
    expect(await byNode(h)).toEqual({ n1: 'agent:1' });
  });

  it('skips nodes with an untolerated NoSchedule taint, runs on tolerated ones and on cordoned nodes', async () => {
    const gpu = { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const }] };
    const h = await start([node('n1'), node('n2', gpu), node('n3', { unschedulable: true })]);
    await h.apply(ds('agent:1'));
    await h.drive(settledOn(h, ['n1', 'n3']));
    await h.apply(ds('agent:1', {}, { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }));
    await h.drive(async () => Object.keys(await byNode(h)).sort().join() === 'n1,n2,n3' && (await status(h))?.phase === 'Healthy');
  });

  it('a rolling update replaces pods node by node, never more than maxUnavailable away', async () => {
    for (const maxUnavailable of [1, 2]) {
      const h = await start([node('n1'), node('n2'), node('n3'), node('n4'), node('n5')]);
      const strategy = { updateStrategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxUnavailable } } };
      await h.apply(ds('agent:1', strategy));
      const all = ['n1', 'n2', 'n3', 'n4', 'n5'];
      await h.drive(settledOn(h, all));
      const from = h.history.length;
      await h.apply(ds('agent:2', strategy));
      await h.drive(settledOn(h, all, 'agent:2'));
      let most = 0;
      for (const sample of h.history.slice(from)) {
        const away = 5 - sample.filter((p) => p.ready && !p.deleting).length;
        most = Math.max(most, away);
        expect(away).toBeLessThanOrEqual(maxUnavailable);
        // maxSurge 0: never two pods for one node.
        const nodes = sample.filter((p) => p.node).map((p) => p.node);
        expect(new Set(nodes).size).toBe(nodes.length);
      }
      expect(most).toBe(maxUnavailable);
      expect((await status(h))!.updatedNumberScheduled).toBe(5);
      await h.close();
      open.splice(open.indexOf(h), 1);
    }
  });

  it('OnDelete keeps old pods until they are deleted', async () => {
    const h = await start([node('n1'), node('n2')]);
    const strategy = { updateStrategy: { type: 'OnDelete' as const } };
    await h.apply(ds('agent:1', strategy));
    await h.drive(settledOn(h, ['n1', 'n2']));
    await h.apply(ds('agent:2', strategy));
    await h.drive(async () => (await status(h))?.updatedNumberScheduled === 0 && (await status(h))?.phase === 'Healthy');
    expect(await byNode(h)).toEqual({ n1: 'agent:1', n2: 'agent:1' });
  });

  it('removing the DaemonSet from Git stops its pods and removes its status', async () => {
    const h = await start([node('n1'), node('n2')]);
    await h.apply(ds('agent:1'));
    await h.drive(settledOn(h, ['n1', 'n2']));
    await h.remove('DaemonSet', 'agent');
    await h.drive(async () => (await h.pods()).length === 0 && (await status(h)) === undefined);
  });
});
