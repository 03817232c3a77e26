// The revision controller's pure core (a ReplicaSet): keep `replicas` pods of one revision.
// Missing pods are created unbound (the scheduler binds them); extra pods are asked to stop,
// cheapest first as Kubernetes does (unscheduled, then not ready, then ready; newest first);
// pods that have stopped, or never ran, are removed from the store.
import type { Pod, Revision } from '../../api/cluster.js';
import type { Compare, KV, TxnOp } from '../../store/index.js';
import { REVISION_HASH_LABEL, WORKLOAD_KINDS, decodeJson, iso, isPod, isRevision, podKey, randomSuffix } from './keys.js';
import type { Stored } from './observed.js';
import { STORE_PREFIX } from '../../api/cluster.js';

/** Pods created per pass at most, so one transaction stays well under the request limit. */
export const MAX_CREATES_PER_PASS = 250;
/**
 * Pods stopped or removed per pass at most: a scale-down or cleanup of any size is a series of
 * bounded transactions (each pass's writes wake the next), never one over the store's limit.
 */
export const MAX_REMOVALS_PER_PASS = 250;

export interface ObservedRevision {
  namespace: string;
  workload: string;
  hash: string;
  /** Store key of the revision. */
  key: string;
  revision?: Stored<Revision>;
  pods: Stored<Pod>[];
}

export async function observeRevision(kv: KV, ref: { namespace: string; workload: string; hash: string }): Promise<ObservedRevision> {
  const key = `${STORE_PREFIX.revisions}${ref.namespace}/${ref.workload}/${ref.hash}`;
  const first = await kv.range(key, { prefix: false });
  const pods = await kv.range(`${STORE_PREFIX.pods}${ref.namespace}/${ref.workload}-${ref.hash}-`, { prefix: true, revision: first.revision });
  const out: ObservedRevision = { ...ref, key, pods: [] };
  const item = first.kvs[0];
  const rev = decodeJson<unknown>(item);
  if (item && isRevision(rev)) out.revision = { key: item.key, value: rev, modRevision: item.modRevision };
  const ownerKind = out.revision?.value.metadata.owner.kind;
  for (const p of pods.kvs) {
    const pod = decodeJson<unknown>(p);
    if (!isPod(pod)) continue;
    const o = pod.metadata.owner;
    // Owner kind, not the name's shape, says whose pod it is: a Job's pod named like a revision's is left alone.
    if (o.name !== ref.workload || o.revision !== ref.hash || !WORKLOAD_KINDS.includes(o.kind) || (ownerKind !== undefined && o.kind !== ownerKind)) continue;
    out.pods.push({ key: p.key, value: pod, modRevision: p.modRevision });
  }
  return out;
}

function rank(p: Pod): number {
  if (!p.spec.nodeName) return 0;
  return p.status.ready ? 2 : 1;
}

/** Kubernetes' deletion order: cheapest to lose first. */
export function deletionOrder(pods: readonly Stored<Pod>[]): Stored<Pod>[] {
  return [...pods].sort((a, b) => {
    const r = rank(a.value) - rank(b.value);
    if (r !== 0) return r;
    const ca = a.value.metadata.createdAt;
    const cb = b.value.metadata.createdAt;
    return ca > cb ? -1 : ca < cb ? 1 : 0;
  });
}

export function newPod(rev: Revision, name: string, now: number): Pod {
  const { nodeName: _bound, ...spec } = rev.template.spec;
  return {
    metadata: {
      name,
      namespace: rev.metadata.namespace,
      labels: { ...rev.template.metadata.labels, [REVISION_HASH_LABEL]: rev.metadata.hash },
      ...(rev.template.metadata.annotations ? { annotations: { ...rev.template.metadata.annotations } } : {}),
      owner: { kind: rev.metadata.owner.kind, name: rev.metadata.owner.name, revision: rev.metadata.hash },
      createdAt: iso(now),
    },
    spec,
    status: { phase: 'Pending', ready: false },
  };
}

export interface RevisionPlan {
  compare: Compare[];
  ops: TxnOp[];
  created: number;
  stopping: number;
  removed: number;
}

export function planRevision(o: ObservedRevision, now: number, random: () => number): RevisionPlan {
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  const plan: RevisionPlan = { compare, ops, created: 0, stopping: 0, removed: 0 };
  const guard = (p: Stored<Pod>): void => {
    compare.push({ key: p.key, target: 'modRevision', op: '==', value: p.modRevision });
  };

  const active: Stored<Pod>[] = [];
  for (const p of o.pods) {
    const m = p.value.metadata;
    if (m.deletionRequestedAt === undefined) {
      active.push(p);
    } else if ((p.value.status.terminatedAt !== undefined || !p.value.spec.nodeName) && plan.removed < MAX_REMOVALS_PER_PASS) {
      // Stopped by its agent, or never bound to a node: nothing runs it any more.
      guard(p);
      ops.push({ type: 'delete', key: p.key });
      plan.removed++;
    }
  }

  const want = o.revision?.value.replicas ?? 0;
  if (active.length < want && o.revision) {
    const rev = o.revision.value;
    const taken = new Set(o.pods.map((p) => p.value.metadata.name));
    const n = Math.min(want - active.length, MAX_CREATES_PER_PASS);
    for (let i = 0; i < n; i++) {
      let name = '';
      for (let tries = 0; tries < 20 && (name === '' || taken.has(name)); tries++) name = `${rev.metadata.name}-${randomSuffix(random)}`;
      if (taken.has(name)) break; // a random source that keeps repeating: try again next pass
      taken.add(name);
      const key = podKey(o.namespace, name);
      compare.push({ key, target: 'createRevision', op: '==', value: 0 });
      ops.push({ type: 'put', key, value: JSON.stringify(newPod(rev, name, now)) });
      plan.created++;
    }
  } else if (active.length > want) {
    const budget = Math.max(0, MAX_REMOVALS_PER_PASS - plan.removed);
    for (const p of deletionOrder(active).slice(0, Math.min(active.length - want, budget))) {
      guard(p);
      if (!p.value.spec.nodeName) {
        // Unbound: no agent will ever see it, so it goes now (the guard loses to a concurrent bind).
        ops.push({ type: 'delete', key: p.key });
        plan.removed++;
      } else {
        const pod: Pod = { ...p.value, metadata: { ...p.value.metadata, deletionRequestedAt: iso(now) } };
        ops.push({ type: 'put', key: p.key, value: JSON.stringify(pod) });
        plan.stopping++;
      }
    }
  }

  if (ops.length > 0) {
    // The revision's replicas are what this pass acted on; an absent revision must stay absent.
    compare.push(
      o.revision
        ? { key: o.key, target: 'modRevision', op: '==', value: o.revision.modRevision }
        : { key: o.key, target: 'createRevision', op: '==', value: 0 },
    );
  }
  return plan;
}
