// The bare Pod controller against an embedded store with a virtual clock: a Pod from Git gets one
// pod record (owner kind Pod), a change replaces it (stop, then create), removal stops and removes it.
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Pod } from '../../src/api/cluster.js';
import type { ManifestObject } from '../../src/api/types.js';
import { VirtualClock, barePodController, type Controller } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { settle } from '../helpers/fake-kubelet.js';

const decoder = new TextDecoder();
const T0 = Date.parse('2026-03-01T12:00:00Z');
const stores: KV[] = [];
const controllers: Controller[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function gitPod(image: string, restartPolicy = 'Never'): ManifestObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'tool', namespace: 'default', labels: { app: 'tool' } },
    spec: { restartPolicy, containers: [{ name: 'c', image, command: ['true'] }] },
  } as ManifestObject;
}

async function setup() {
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const clock = new VirtualClock(T0);
  const ctl = barePodController({ kv, clock, resyncMs: 0 });
  controllers.push(ctl);
  ctl.start();
  const desiredKey = `${STORE_PREFIX.desired}Pod/default/tool`;
  const podKey = `${STORE_PREFIX.pods}default/tool`;
  const read = async (): Promise<Pod | undefined> => {
    const item = await kv.get(podKey);
    return item ? (JSON.parse(decoder.decode(item.value)) as Pod) : undefined;
  };
  /** What an agent would do: bind and start an unbound pod, end a stopped one, or end with `outcome`. */
  const kubelet = async (outcome?: 'Succeeded' | 'Failed'): Promise<void> => {
    const p = await read();
    if (!p || p.status.terminatedAt !== undefined) return;
    const iso = new Date(clock.now()).toISOString();
    let next: Pod | undefined;
    if (p.metadata.deletionRequestedAt !== undefined) next = { ...p, status: { ...p.status, phase: 'Failed', ready: false, terminatedAt: iso } };
    else if (!p.spec.nodeName) next = { ...p, spec: { ...p.spec, nodeName: 'n1' }, status: { ...p.status, phase: 'Running', ready: true, startedAt: iso } };
    else if (outcome) next = { ...p, status: { ...p.status, phase: outcome, ready: false, terminatedAt: iso } };
    if (next) await kv.put(podKey, JSON.stringify(next));
    await settle(kv, [ctl]);
  };
  return {
    kv,
    read,
    kubelet,
    settle: () => settle(kv, [ctl]),
    put: async (o: ManifestObject, commit: string) => {
      await kv.put(desiredKey, JSON.stringify({ object: o, source: { file: 'pod.yaml', index: 0, line: 1, column: 1 }, commit, appliedAt: new Date(clock.now()).toISOString() }));
      await settle(kv, [ctl]);
    },
    remove: async () => {
      await kv.delete(desiredKey);
      await settle(kv, [ctl]);
    },
    events: async () => (await kv.range(STORE_PREFIX.events, { prefix: true })).kvs.map((i) => JSON.parse(decoder.decode(i.value)) as ClusterEvent),
  };
}

describe('bare Pod controller', () => {
  it('creates one unbound pod record owned by the Pod, and a finished pod is not started again', async () => {
    const h = await setup();
    await h.put(gitPod('busybox:1'), 'c1');
    const p = await h.read();
    expect(p).toMatchObject({ metadata: { name: 'tool', namespace: 'default', labels: { app: 'tool' }, owner: { kind: 'Pod', name: 'tool' } }, status: { phase: 'Pending' } });
    expect(p!.spec.nodeName).toBeUndefined();
    expect(p!.spec.restartPolicy).toBe('Never');
    await h.kubelet();
    await h.kubelet('Succeeded');
    // The same Pod synced again (a new commit) leaves the finished pod as it is.
    await h.put(gitPod('busybox:1'), 'c2');
    const after = await h.read();
    expect(after!.status.phase).toBe('Succeeded');
    expect(after!.metadata.createdAt).toBe(p!.metadata.createdAt);
    expect((await h.events()).map((e) => e.reason)).toEqual(['Created']);
  });

  it('a change in Git stops the running pod, then creates it again with the new spec', async () => {
    const h = await setup();
    await h.put(gitPod('busybox:1'), 'c1');
    await h.kubelet();
    const before = await h.read();
    expect(before!.status.phase).toBe('Running');
    await h.put(gitPod('busybox:2'), 'c2');
    const stopping = await h.read();
    expect(stopping!.metadata.deletionRequestedAt).toBeDefined();
    expect(stopping!.spec.containers[0]!.image).toBe('busybox:1');
    await h.kubelet(); // the agent ends it; the controller removes it and creates the new one
    const replaced = await h.read();
    expect(replaced!.spec.containers[0]!.image).toBe('busybox:2');
    expect(replaced!.metadata.deletionRequestedAt).toBeUndefined();
    expect(replaced!.metadata.owner.revision).not.toBe(before!.metadata.owner.revision);
    expect((await h.events()).map((e) => e.reason)).toContain('Replaced');
  });

  it('removal from Git stops the pod and then removes its record', async () => {
    const h = await setup();
    await h.put(gitPod('busybox:1', 'OnFailure'), 'c1');
    await h.kubelet();
    await h.remove();
    expect((await h.read())!.metadata.deletionRequestedAt).toBeDefined();
    await h.kubelet();
    expect(await h.read()).toBeUndefined();
  });

  it('leaves a pod of the same name that another owner made alone', async () => {
    const h = await setup();
    const other: Pod = {
      metadata: { name: 'tool', namespace: 'default', labels: {}, owner: { kind: 'Deployment', name: 'web', revision: 'abc' }, createdAt: new Date(T0).toISOString() },
      spec: { containers: [{ name: 'c', image: 'nginx:1' }] } as Pod['spec'],
      status: { phase: 'Running', ready: true },
    };
    await h.kv.put(`${STORE_PREFIX.pods}default/tool`, JSON.stringify(other));
    await h.put(gitPod('busybox:1'), 'c1');
    expect(await h.read()).toEqual(other);
    await h.remove();
    expect(await h.read()).toEqual(other);
  });
});
