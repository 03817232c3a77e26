// A Rollout with spec.workloadRef on the workload controllers (fake kubelet, virtual clock):
// it runs the referenced Deployment's template, a change of that template rolls a new
// revision, scaleDown sets the Deployment's count through its scale record (Git's
// spec.replicas untouched), and a missing Deployment is reported at the field.
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { ALL_STRATEGIES } from '../../src/rollout/index.js';
import { planWorkloadRefScale } from '../../src/controllers/workload/workload-ref.js';
import type { ObservedWorkload } from '../../src/controllers/workload/observed.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(): Promise<Harness> {
  const h = await harness({ registry: ALL_STRATEGIES });
  open.push(h);
  return h;
}

function rollout(scaleDown?: string, steps: unknown[] = [{ setWeight: 50 }, { pause: { duration: 10 } }]) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web-rollout', namespace: 'default' },
    spec: {
      replicas: 4,
      workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', ...(scaleDown ? { scaleDown } : {}) },
      strategy: { canary: { steps } },
    },
  };
}

async function scaleRecord(h: Harness): Promise<{ replicas: number; rollout?: string } | undefined> {
  const item = await h.kv.get(`/capstan/scale/Deployment/default/web`);
  return item ? JSON.parse(new TextDecoder().decode(item.value)) : undefined;
}

const podsOf = async (h: Harness, kind: string) => (await h.pods()).filter((p) => p.metadata.owner.kind === kind && p.metadata.deletionRequestedAt === undefined);

describe('Rollout spec.workloadRef', () => {
  it('runs the Deployment template; onsuccess scales the Deployment to 0 once Healthy, via its scale record', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1', { replicas: 2 }));
    await h.drive(async () => (await h.status('web'))?.phase === 'Healthy');
    await h.apply(rollout('onsuccess'));
    await h.drive(async () => (await h.status('web-rollout', 'Rollout'))?.phase === 'Healthy' && (await podsOf(h, 'Deployment')).length === 0);
    const pods = await podsOf(h, 'Rollout');
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.spec.containers[0]!.image === 'web:1' && p.metadata.labels.app === 'web')).toBe(true);
    expect(await scaleRecord(h)).toMatchObject({ replicas: 0, rollout: 'default/web-rollout' });
    // Git's Deployment is unchanged: the count lives in the scale record only.
    const desired = JSON.parse(new TextDecoder().decode((await h.kv.get(`${STORE_PREFIX.desired}Deployment/default/web`))!.value));
    expect(desired.object.spec.replicas).toBe(2);

    // A new template in the Deployment is a new Rollout revision, walked through the canary steps.
    await h.apply(deployment('web', 'web:2', { replicas: 2 }), 'c2');
    await h.drive(async () => (await h.revisions()).filter((r) => r.metadata.owner.kind === 'Rollout').length === 2);
    const s = await h.status('web-rollout', 'Rollout');
    expect(s?.revision).toBe(2);
    await h.drive(async () => (await h.status('web-rollout', 'Rollout'))?.phase === 'Healthy' && (await podsOf(h, 'Rollout')).every((p) => p.spec.containers[0]!.image === 'web:2'));
    expect(await podsOf(h, 'Deployment')).toHaveLength(0);

    // The Rollout gone from Git: its scale record goes, the Deployment runs Git's 2 again.
    await h.remove('Rollout', 'web-rollout');
    await h.drive(async () => (await scaleRecord(h)) === undefined && (await podsOf(h, 'Deployment')).length === 2 && (await podsOf(h, 'Rollout')).length === 0);
  });

  it('progressively lowers the Deployment as Rollout pods become available; never leaves it', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1', { replicas: 3 }));
    await h.drive(async () => (await h.status('web'))?.phase === 'Healthy');
    await h.apply(rollout('progressively'));
    const seen: number[] = [];
    await h.drive(async () => {
      const r = await scaleRecord(h);
      if (r && seen[seen.length - 1] !== r.replicas) seen.push(r.replicas);
      return (await h.status('web-rollout', 'Rollout'))?.phase === 'Healthy' && r?.replicas === 0;
    });
    // Went down in steps, never back up.
    expect(seen[seen.length - 1]).toBe(0);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);

    // scaleDown: never removes the record: the Deployment runs Git's count again (as removing the Rollout does, below).
    await h.apply(rollout('never'), 'c3');
    await h.drive(async () => (await scaleRecord(h)) === undefined && (await podsOf(h, 'Deployment')).length === 3);
  });

  it('a missing Deployment degrades the Rollout with the field and file:line, and creates nothing', async () => {
    const h = await start();
    await h.apply(rollout());
    await h.drive(async () => (await h.status('web-rollout', 'Rollout')) !== undefined);
    const s = (await h.status('web-rollout', 'Rollout'))!;
    expect(s.phase).toBe('Degraded');
    expect(s.message).toBe('apps/web.yaml:1: spec.workloadRef.name: Deployment default/web is not in the desired state; the Rollout has no pod template');
    expect(await h.revisions()).toEqual([]);
    // The Deployment arriving later starts the Rollout.
    await h.apply(deployment('web', 'web:1', { replicas: 1 }));
    await h.drive(async () => (await h.status('web-rollout', 'Rollout'))?.phase === 'Healthy');
  });
});

describe('planWorkloadRefScale (pure)', () => {
  const w = (scaleDown: string) => rollout(scaleDown) as never;
  const observed = (record?: { replicas: number; rollout?: string; hpa?: string }): ObservedWorkload => ({
    ref: { kind: 'Rollout', namespace: 'default', name: 'web-rollout' },
    storeRevision: 9,
    revisions: [],
    pods: [],
    history: [],
    workloadRef: {
      name: 'web',
      desired: { object: deployment('web', 'web:1', { replicas: 5 }), source: { file: 'a.yaml', index: 0, line: 1, column: 1 }, appliedAt: '' } as never,
      ...(record ? { scale: { key: '/capstan/scale/Deployment/default/web', value: { hpa: '', updatedAt: '', ...record }, modRevision: 7 } } : {}),
    },
  });
  const put = (r: ReturnType<typeof planWorkloadRefScale>) => (r.ops[0]?.type === 'put' ? JSON.parse(r.ops[0].value as string).replicas : r.ops[0]?.type);

  it('progressively: Git count minus available Rollout pods, never raised again', () => {
    expect(put(planWorkloadRefScale(w('progressively'), observed(), { phase: 'Progressing', availableReplicas: 0 }, 'now'))).toBeUndefined();
    expect(put(planWorkloadRefScale(w('progressively'), observed(), { phase: 'Progressing', availableReplicas: 2 }, 'now'))).toBe(3);
    const mine = { replicas: 3, rollout: 'default/web-rollout' };
    expect(put(planWorkloadRefScale(w('progressively'), observed(mine), { phase: 'Progressing', availableReplicas: 1 }, 'now'))).toBeUndefined();
    const r = planWorkloadRefScale(w('progressively'), observed(mine), { phase: 'Progressing', availableReplicas: 4 }, 'now');
    expect(put(r)).toBe(1);
    expect(r.compare).toEqual([{ key: '/capstan/scale/Deployment/default/web', target: 'modRevision', op: '==', value: 7 }]);
  });

  it('onsuccess waits for Healthy; never deletes only its own record; an autoscaler record is left alone', () => {
    expect(put(planWorkloadRefScale(w('onsuccess'), observed(), { phase: 'Progressing', availableReplicas: 4 }, 'now'))).toBeUndefined();
    expect(put(planWorkloadRefScale(w('onsuccess'), observed(), { phase: 'Healthy', availableReplicas: 4 }, 'now'))).toBe(0);
    expect(put(planWorkloadRefScale(w('never'), observed({ replicas: 0, rollout: 'default/web-rollout' }), { phase: 'Healthy', availableReplicas: 4 }, 'now'))).toBe('delete');
    expect(planWorkloadRefScale(w('onsuccess'), observed({ replicas: 6, hpa: 'default/web' }), { phase: 'Healthy', availableReplicas: 4 }, 'now').ops).toEqual([]);
  });
});
