import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Pod } from '../../src/api/cluster.js';
import type { ManifestObject } from '../../src/api/index.js';
import { hpaController, readScale, scaleKey, type HpaStatus, type MetricsSource, type PodUsage } from '../../src/controllers/index.js';
import { planAgainstStore, readDesired } from '../../src/sync/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const decoder = new TextDecoder();

/** Spreads a total cpu load (millicores) evenly over the running pods. */
class FakeLoad implements MetricsSource {
  total = 0;
  async podUsage(_ns: string, pods: readonly Pod[]): Promise<Map<string, PodUsage>> {
    const running = pods.filter((p) => p.status.phase === 'Running' && p.metadata.deletionRequestedAt === undefined);
    return new Map(running.map((p) => [p.metadata.name, { cpu: this.total / running.length }]));
  }
}

const web = () =>
  deployment('web', 'web:1', {
    replicas: 1,
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'web:1', resources: { requests: { cpu: '100m' } } }] } },
  });

const hpa: ManifestObject = {
  apiVersion: 'autoscaling/v2',
  kind: 'HorizontalPodAutoscaler',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: 1,
    maxReplicas: 4,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
  },
};

const source = (o: ManifestObject) => ({ object: o, source: { file: 'apps/web.yaml', index: 0, line: 1, column: 1 } });

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(): Promise<{ h: Harness; load: FakeLoad }> {
  h = await harness();
  const load = new FakeLoad();
  h.ctl.all.push(hpaController({ kv: h.kv, clock: h.clock, metrics: load, resyncMs: 0 }));
  h.ctl.all.at(-1)!.start();
  await h.apply(web());
  await h.apply(hpa as never);
  return { h, load };
}

const readyPods = async (x: Harness) => (await x.pods()).filter((p) => p.status.ready && p.metadata.deletionRequestedAt === undefined).length;
const livePods = async (x: Harness) => (await x.pods()).filter((p) => p.metadata.deletionRequestedAt === undefined).length;

describe('HPA controller', () => {
  it('scales a Deployment 1 → 4 under load and back to 1 after the 300 s window, with no drift against Git', async () => {
    const { h: x, load } = await setup();
    const start = x.clock.now();
    await x.drive(async () => (await readyPods(x)) === 1);
    load.total = 300; // 300% of one pod's request against 50%
    await x.drive(async () => (await readyPods(x)) === 4 && (await livePods(x)) === 4);
    expect((await readScale(x.kv, 'Deployment', 'default', 'web'))?.replicas).toBe(4);
    // Git's count stays in the desired record; the plan against the store shows nothing.
    const desired = await readDesired(x.kv);
    expect((desired.records.get(`${STORE_PREFIX.desired}Deployment/default/web`)?.record.object.spec as { replicas: number }).replicas).toBe(1);
    const plan = planAgainstStore([source(web()), source(hpa)], desired, { location: 'repo' });
    expect(plan.changes).toEqual([]);
    const status = JSON.parse(decoder.decode((await x.kv.get(`${STORE_PREFIX.status}HorizontalPodAutoscaler/default/web`))!.value)) as HpaStatus;
    expect(status).toMatchObject({ desiredReplicas: 4, target: 'Deployment/web' });
    expect(status.conditions.map((c) => `${c.type}=${c.status}`)).toEqual(['AbleToScale=True', 'ScalingActive=True', 'ScalingLimited=True']);
    expect(status.lastScaleTime).toBeDefined();
    const events = (await x.list<ClusterEvent>(STORE_PREFIX.events)).filter((e) => e.reason === 'SuccessfulRescale');
    expect(events.map((e) => e.message)).toContain('New size: 4; reason: cpu resource utilization (percentage of request) above target');
    const workload = await x.status('web');
    expect(workload?.replicas).toBe(4);

    // Load gone: the count holds for the 300 s stabilisation window, then drops to 1.
    load.total = 4;
    const quiet = x.clock.now();
    await x.drive(async () => (await livePods(x)) === 1, 2000);
    const down = (await x.list<ClusterEvent>(STORE_PREFIX.events)).filter((e) => e.reason === 'SuccessfulRescale' && e.message.startsWith('New size: 1'));
    expect(down).toHaveLength(1);
    expect(down[0]!.message).toBe('New size: 1; reason: All metrics below target');
    // 300 s after the last pass that still saw the load, which ran at most one 15 s period before `quiet`.
    expect(x.clock.now() - quiet).toBeGreaterThanOrEqual(285_000);
    expect(x.clock.now() - start).toBeLessThan(500_000);
  }, 20_000);

  it('deletes the scale record when the HPA leaves Git, and spec.replicas applies again', async () => {
    const { h: x, load } = await setup();
    load.total = 300;
    await x.drive(async () => (await livePods(x)) === 4);
    await x.remove('HorizontalPodAutoscaler', 'web');
    await x.drive(async () => (await x.kv.get(scaleKey('Deployment', 'default', 'web'))) === undefined && (await livePods(x)) === 1);
    expect(await x.kv.get(`${STORE_PREFIX.status}HorizontalPodAutoscaler/default/web`)).toBeUndefined();
  }, 20_000);

  it('a target without cpu requests: ScalingActive False with FailedGetResourceMetric, no scale', async () => {
    h = await harness();
    const x = h;
    const load = new FakeLoad();
    load.total = 500;
    x.ctl.all.push(hpaController({ kv: x.kv, clock: x.clock, metrics: load, resyncMs: 0 }));
    x.ctl.all.at(-1)!.start();
    await x.apply(deployment('web', 'web:1', { replicas: 1 }));
    await x.apply(hpa as never);
    await x.drive(async () => {
      const item = await x.kv.get(`${STORE_PREFIX.status}HorizontalPodAutoscaler/default/web`);
      if (!item) return false;
      const s = JSON.parse(decoder.decode(item.value)) as HpaStatus;
      return s.conditions.some((c) => c.type === 'ScalingActive' && c.status === 'False' && c.reason === 'FailedGetResourceMetric');
    });
    expect(await readScale(x.kv, 'Deployment', 'default', 'web')).toBeUndefined();
  }, 20_000);
});

describe('storeMetricsSource', () => {
  it('reads fresh pod usage from the node records the pods run on', async () => {
    const { openEmbeddedStore } = await import('../../src/store/index.js');
    const { storeMetricsSource } = await import('../../src/controllers/index.js');
    const kv = await openEmbeddedStore();
    try {
      let now = Date.parse('2026-03-01T12:00:00.000Z');
      const clock = { now: () => now, setTimeout: () => 0 as never, clearTimeout: () => undefined } as never;
      const at = new Date(now).toISOString();
      await kv.put(`${STORE_PREFIX.nodes}n1`, JSON.stringify({ name: 'n1', podMetrics: { at, windowSeconds: 10, pods: { 'default/a': { cpu: 250, memory: 1000 }, 'other/a': { cpu: 9 } } } }));
      await kv.put(`${STORE_PREFIX.nodes}n2`, JSON.stringify({ name: 'n2' }));
      const pod = (name: string, node: string) => ({ metadata: { name }, spec: { nodeName: node } }) as unknown as Pod;
      const source = storeMetricsSource({ kv, clock, maxAgeMs: 30_000, podsMetrics: () => new Map([['b', { http_requests_per_second: 7 }]]) });
      const usage = await source.podUsage('default', [pod('a', 'n1'), pod('b', 'n2')]);
      expect(usage.get('a')).toEqual({ cpu: 250, memory: 1000 });
      expect(usage.get('b')).toEqual({ metrics: { http_requests_per_second: 7 } });
      now += 31_000; // stale
      const later = await storeMetricsSource({ kv, clock, maxAgeMs: 30_000 }).podUsage('default', [pod('a', 'n1')]);
      expect(later.size).toBe(0);
    } finally {
      await kv.close();
    }
  });
});

describe('routerRequestRates', () => {
  it('splits each revision’s request rate over its ready pods behind the Service', async () => {
    const { openEmbeddedStore } = await import('../../src/store/index.js');
    const { routerRequestRates } = await import('../../src/controllers/hpa/index.js');
    const kv = await openEmbeddedStore();
    try {
      await kv.put(`${STORE_PREFIX.desired}Service/default/web`, JSON.stringify({ object: { kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' } } } }));
      const pod = (name: string, revision: string, ready = true, app = 'web') =>
        ({ metadata: { name, labels: { app }, owner: { kind: 'Deployment', name: 'web', revision } }, spec: {}, status: { ready } }) as unknown as Pod;
      const seen: string[] = [];
      const rates = routerRequestRates(kv, (service, revision, window) => {
        seen.push(`${service} ${revision} ${window}`);
        return revision === 'r1' ? { requests: 600 } : undefined;
      });
      const out = await rates('default', [pod('a', 'r1'), pod('b', 'r1'), pod('c', 'r2'), pod('d', 'r1', false), pod('e', 'r1', true, 'other')]);
      expect(out.get('a')).toEqual({ http_requests_per_second: 10, requests_per_second: 10, capstan_requests_per_second: 10 });
      expect(out.get('b')?.http_requests_per_second).toBe(10);
      expect(out.get('c')?.http_requests_per_second).toBe(0);
      expect(out.has('d')).toBe(false);
      expect(out.has('e')).toBe(false);
      expect(seen.sort()).toEqual(['default/web r1 30', 'default/web r2 30']);
    } finally {
      await kv.close();
    }
  });
});
