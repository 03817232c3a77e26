// The bare Pod controller (kind Pod from Git): one key per Pod (`Pod/<ns>/<name>`). A Pod in Git
// becomes one pod record at STORE_PREFIX.pods + `<ns>/<name>` (owner kind Pod, revision = the
// hash of its labels, annotations and spec), which the scheduler binds and the agent runs like
// any controller-made pod; restartPolicy is the agent's to honour. A finished pod stays (its
// phase is the outcome) and is not started again. A change to the Pod in Git replaces the pod
// (Kubernetes refuses most pod spec updates; here the old pod is stopped, then the new one is
// created); removal from Git stops the pod and then removes its record.
import { STORE_PREFIX, type DesiredRecord, type Pod, type PodSpec } from '../../api/cluster.js';
import type { ManifestObject } from '../../api/types.js';
import type { KV, KeyValue } from '../../store/index.js';
import { isPod, podFinished, Writes } from '../cronjob/index.js';
import { storeController, type StoreControllerOptions } from '../store-controller.js';
import { EventRecorder, type EventInput } from '../events.js';
import { Controller, systemClock, type Clock, type Reconciler, parseObjectKey } from '../framework/index.js';
import { decodeJson, templateHash, type Stored } from '../workload/index.js';

const KIND = 'Pod';
const CONFLICT_RETRY_MS = 10;

export function parseBarePodKey(key: string): { namespace: string; name: string } | undefined {
  return parseObjectKey(KIND, key);
}

/** The hash that decides whether a change in Git replaces the pod. */
export function barePodHash(o: ManifestObject): string {
  return templateHash({ labels: { ...(o.metadata.labels ?? {}) }, spec: { annotations: o.metadata.annotations ?? {}, spec: o.spec } });
}

/** The pod record for a Pod from Git: unbound unless the manifest names a node. */
export function barePod(o: ManifestObject, now: number): Pod {
  return {
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace ?? 'default',
      labels: { ...(o.metadata.labels ?? {}) },
      ...(o.metadata.annotations ? { annotations: { ...o.metadata.annotations } } : {}),
      owner: { kind: KIND, name: o.metadata.name, revision: barePodHash(o) },
      createdAt: new Date(now).toISOString(),
    },
    spec: o.spec as unknown as PodSpec,
    status: { phase: 'Pending', ready: false },
  };
}

export interface BarePodReconcilerOptions {
  kv: KV;
  clock?: Clock;
  events?: EventRecorder;
}

export function barePodReconciler(options: BarePodReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'barepod',
    async reconcile(key, ctx) {
      const ref = parseBarePodKey(key);
      if (!ref) return;
      const now = clock.now();
      const desiredKey = `${STORE_PREFIX.desired}${KIND}/${ref.namespace}/${ref.name}`;
      const first = await kv.range(desiredKey);
      const podItem = (await kv.range(`${STORE_PREFIX.pods}${ref.namespace}/${ref.name}`, { revision: first.revision })).kvs[0];
      const record = decodeJson<DesiredRecord>(first.kvs[0]);
      const want = record?.object.kind === KIND ? record.object : undefined;
      const v = decodeJson<unknown>(podItem);
      let pod: Stored<Pod> | undefined;
      if (podItem && isPod(v)) {
        if (v.metadata.owner.kind !== KIND) {
          // A pod of that name belongs to a workload: leave it alone.
          if (want) ctx.logger.warn({ pod: key, owner: v.metadata.owner }, 'a pod of this name belongs to another owner; the Pod from Git is not created');
          return;
        }
        pod = { key: podItem.key, value: v, modRevision: podItem.modRevision };
      }
      const w = new Writes();
      const pending: EventInput[] = [];
      const event = (reason: string, message: string): void => {
        pending.push({ namespace: ref.namespace, object: `${KIND}/${ref.name}`, type: 'Normal', reason, message });
      };
      const stop = (p: Stored<Pod>, reason: string, message: string): void => {
        if (podFinished(p.value) || !p.value.spec.nodeName) w.delete(p);
        else if (p.value.metadata.deletionRequestedAt === undefined) {
          w.put(p, { ...p.value, metadata: { ...p.value.metadata, deletionRequestedAt: new Date(now).toISOString() } });
          event(reason, message);
        }
      };
      if (want) {
        const hash = barePodHash(want);
        if (!pod) {
          const created = barePod(want, now);
          w.create(`${STORE_PREFIX.pods}${ref.namespace}/${ref.name}`, created);
          event('Created', `Created pod ${ref.name}`);
        } else if (pod.value.metadata.owner.revision !== hash) {
          stop(pod, 'Replaced', 'the Pod changed in Git: the pod is stopped and created again');
        } else if (pod.value.metadata.deletionRequestedAt !== undefined && (podFinished(pod.value) || !pod.value.spec.nodeName)) {
          // Stopped by someone else (eviction, drain): remove it so it is created again.
          w.delete(pod);
        }
        w.compare.push({ key: desiredKey, target: 'modRevision', op: '==', value: first.kvs[0]!.modRevision });
      } else {
        if (!pod) return;
        stop(pod, 'Killing', 'the Pod was removed from Git: stopping it');
        w.compare.push({ key: desiredKey, target: 'createRevision', op: '==', value: 0 });
      }
      if (w.ops.length === 0) return;
      const r = await kv.txn({ compare: w.compare, success: w.ops, failure: [] });
      if (!r.succeeded) {
        ctx.logger.debug('the Pod or its pod record changed while reconciling; looking again');
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      for (const e of pending) await events?.record(e);
      return;
    },
  };
}

/** Desired Pods and their pod records → the Pod's key. */
export function barePodKeyOf(item: KeyValue): string | undefined {
  if (item.key.startsWith(STORE_PREFIX.desired)) {
    const k = item.key.slice(STORE_PREFIX.desired.length);
    return k.startsWith(`${KIND}/`) ? k : undefined;
  }
  const v = decodeJson<unknown>(item);
  if (isPod(v) && v.metadata.owner.kind === KIND) return `${KIND}/${v.metadata.namespace}/${v.metadata.name}`;
  return undefined;
}

export type BarePodControllerOptions = StoreControllerOptions;

/** The bare Pod controller, not started. */
export function barePodController(options: BarePodControllerOptions): Controller {
  return storeController(options, { eventSource: 'pod-controller', keysOf: barePodKeyOf, prefixes: [STORE_PREFIX.desired, STORE_PREFIX.pods], reconciler: (deps) => barePodReconciler(deps) });
}
