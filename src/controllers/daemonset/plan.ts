// The DaemonSet controller's pure core: observed set, nodes and pods → one pass of writes.
// Every node whose placement rules admit the pod (nodeSelector, required node affinity,
// tolerated taints; a cordoned node too, as daemon pods tolerate unschedulable) gets one pod.
// The pod is made for its node as Kubernetes does: a required node affinity term on
// metadata.name, so the scheduler still binds it through its usual fit checks. Nodes that go
// or stop matching lose their pod. RollingUpdate replaces old pods at most maxUnavailable at a
// time (maxSurge 0: the old pod stops before the new one starts); OnDelete waits for deletes.
import type { NodeInfo as StoredNode, Pod, PodSpec, Revision, WorkloadStatus } from '../../api/cluster.js';
import type { DaemonSet } from '../../api/index.js';
import { placementProblem, type NodeInfo } from '../../scheduler/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import type { EventInput } from '../events.js';
import { podRequest } from '../scheduling/index.js';
import { REVISION_HASH_LABEL, newPod, randomSuffix, templateHash, type Stored } from '../workload/index.js';

export const KIND = 'DaemonSet';
/** Pods created or stopped per pass at most, so one transaction stays bounded. */
export const MAX_CHANGES_PER_PASS = 250;

/** The tolerations Kubernetes' DaemonSet controller adds to every daemon pod. */
export const DAEMON_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
] as const;

/** What the controller keeps at STORE_PREFIX.status + `DaemonSet/<ns>/<name>`. */
export interface DaemonSetStatus extends WorkloadStatus {
  kind: typeof KIND;
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  numberAvailable: number;
  numberUnavailable: number;
  updatedNumberScheduled: number;
  /** `<set>-<hash>` of the spec's template. */
  updateRevision: string;
}

export interface ObservedDaemonSet {
  namespace: string;
  name: string;
  set?: DaemonSet;
  commit?: string;
  status?: Stored<DaemonSetStatus>;
  pods: Stored<Pod>[];
  nodes: StoredNode[];
}

export interface DaemonSetPlan {
  compare: Compare[];
  ops: TxnOp[];
  events: EventInput[];
  status?: DaemonSetStatus;
  created: string[];
  stopping: string[];
  removed: string[];
  /** Look again then (minReadySeconds). */
  requeueAt?: number;
}

export interface DaemonSetKeys {
  pod(namespace: string, name: string): string;
  status(namespace: string, name: string): string;
}

const iso = (ms: number): string => new Date(ms).toISOString();
type Template = Revision['template'];

export function daemonTemplate(set: DaemonSet): Template {
  const t = set.spec.template;
  return {
    metadata: { labels: { ...(t.metadata?.labels ?? {}) }, ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}) },
    spec: structuredClone(t.spec) as unknown as PodSpec,
  };
}

type Term = { matchExpressions?: unknown[]; matchFields?: Array<{ key: string; operator: string; values?: string[] }> };

/** The template's spec made for one node: the daemon tolerations and a node affinity to it. */
export function specForNode(spec: PodSpec, node: string): PodSpec {
  const out = structuredClone(spec);
  const tolerations = [...(out.tolerations ?? [])];
  for (const t of DAEMON_TOLERATIONS) {
    if (!tolerations.some((x) => x.key === t.key && x.effect === t.effect && x.operator === 'Exists')) tolerations.push({ ...t });
  }
  out.tolerations = tolerations;
  const field = { key: 'metadata.name', operator: 'In', values: [node] };
  const na = (out.affinity?.nodeAffinity ?? {}) as { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: Term[] } };
  const terms = na.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  // Kubernetes replaces each term's matchFields with the node's name (or adds one term).
  const next: Term[] = terms.length === 0 ? [{ matchFields: [field] }] : terms.map((t) => ({ ...t, matchFields: [field] }));
  out.affinity = { ...(out.affinity ?? {}), nodeAffinity: { ...na, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: next } } as never };
  return out;
}

/** The node a daemon pod is for: its binding, else the node its affinity names. */
export function targetNode(pod: Pod): string | undefined {
  if (pod.spec.nodeName) return pod.spec.nodeName;
  const terms = (pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) as Term[];
  return terms[0]?.matchFields?.find((f) => f.key === 'metadata.name')?.values?.[0];
}

function schedulerView(node: StoredNode): NodeInfo {
  // Readiness does not decide where a daemon should run; the scheduler waits for a ready node.
  const info: NodeInfo = { name: node.name, labels: node.labels ?? {}, allocatable: { cpu: node.capacity.cpu, memory: node.capacity.memory, pods: node.capacity.pods }, ready: true };
  if (node.taints !== undefined) info.taints = node.taints;
  if (node.unschedulable === true) info.unschedulable = true;
  return info;
}

/** Whether `set` should run a pod on `node`. */
export function shouldRun(set: DaemonSet, template: Template, node: StoredNode): boolean {
  const probe = newPod(
    { metadata: { name: set.metadata.name, namespace: set.metadata.namespace, owner: { kind: KIND, name: set.metadata.name }, hash: '', revision: 0, createdAt: '' }, template: { ...template, spec: specForNode(template.spec, node.name) }, replicas: 0 },
    `${set.metadata.name}-probe`,
    0,
  );
  return placementProblem(podRequest(probe), schedulerView(node)) === undefined;
}

/** maxUnavailable as a count of `desired` (a percentage rounds up; at least 1). */
export function maxUnavailableOf(value: number | string | undefined, desired: number): number {
  if (value === undefined) return 1;
  const n = typeof value === 'number' ? value : /^[0-9]+%$/.test(value) ? Math.ceil((parseInt(value, 10) * desired) / 100) : Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export function planDaemonSet(o: ObservedDaemonSet, now: number, random: () => number, keys: DaemonSetKeys): DaemonSetPlan {
  const plan: DaemonSetPlan = { compare: [], ops: [], events: [], created: [], stopping: [], removed: [] };
  const guard = (s: { key: string; modRevision: number }): void => {
    plan.compare.push({ key: s.key, target: 'modRevision', op: '==', value: s.modRevision });
  };
  const object = `${KIND}/${o.name}`;
  const event = (reason: string, message: string): void => {
    plan.events.push({ namespace: o.namespace, object, type: 'Normal', reason, message });
  };
  const nodes = new Map(o.nodes.map((n) => [n.name, n]));
  let budget = MAX_CHANGES_PER_PASS;
  const stop = (p: Stored<Pod>): void => {
    budget--;
    guard(p);
    const node = p.value.spec.nodeName;
    if (!node || !nodes.has(node)) {
      // Unbound, or its node is gone: nothing runs it any more.
      plan.ops.push({ type: 'delete', key: p.key });
      plan.removed.push(p.value.metadata.name);
    } else {
      const pod: Pod = { ...p.value, metadata: { ...p.value.metadata, deletionRequestedAt: iso(now) } };
      plan.ops.push({ type: 'put', key: p.key, value: JSON.stringify(pod) });
      plan.stopping.push(p.value.metadata.name);
    }
    event('SuccessfulDelete', `Deleted pod: ${p.value.metadata.name}`);
  };

  // Pods by target node; stopped ones leave the store (their node waits for the next pass).
  const active = new Map<string, Stored<Pod>[]>();
  const busy = new Set<string>();
  for (const p of o.pods) {
    const node = targetNode(p.value) ?? '';
    if (p.value.metadata.deletionRequestedAt !== undefined) {
      busy.add(node);
      if (budget > 0 && (p.value.status.terminatedAt !== undefined || !p.value.spec.nodeName || !nodes.has(p.value.spec.nodeName))) {
        budget--;
        guard(p);
        plan.ops.push({ type: 'delete', key: p.key });
        plan.removed.push(p.value.metadata.name);
      }
      continue;
    }
    const list = active.get(node) ?? [];
    list.push(p);
    active.set(node, list);
  }

  const set = o.set;
  if (!set) {
    for (const list of active.values()) for (const p of list) if (budget > 0) stop(p);
    if (o.pods.length === 0 && o.status) {
      guard(o.status);
      plan.ops.push({ type: 'delete', key: o.status.key });
    }
    return plan;
  }

  const template = daemonTemplate(set);
  const hash = templateHash({ labels: template.metadata.labels, spec: template.spec });
  const hashOf = (p: Pod): string => p.metadata.labels[REVISION_HASH_LABEL] ?? p.metadata.owner.revision;
  const minReadySeconds = set.spec.minReadySeconds ?? 0;
  const available = (p: Pod): boolean => {
    if (!(p.status.phase === 'Running' && p.status.ready)) return false;
    if (minReadySeconds <= 0) return true;
    const since = p.status.readySince === undefined ? Number.NaN : Date.parse(p.status.readySince);
    if (Number.isNaN(since)) return false;
    const at = since + minReadySeconds * 1000;
    if (at > now && (plan.requeueAt === undefined || at < plan.requeueAt)) plan.requeueAt = at;
    return at <= now;
  };
  const wanted = [...nodes.values()].filter((n) => shouldRun(set, template, n)).map((n) => n.name).sort();
  const wantedSet = new Set(wanted);
  const taken = new Set(o.pods.map((p) => p.value.metadata.name));

  // Pods on nodes that are gone or no longer match, and extra pods on one node.
  let misscheduled = 0;
  for (const [node, list] of [...active.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!wantedSet.has(node)) {
      misscheduled += list.length;
      for (const p of list) if (budget > 0) stop(p);
      active.delete(node);
      continue;
    }
    if (list.length > 1) {
      // Keep one: the updated one first, then the ready one, then the oldest.
      const keep = [...list].sort((a, b) => Number(hashOf(b.value) === hash) - Number(hashOf(a.value) === hash) || Number(b.value.status.ready) - Number(a.value.status.ready) || (a.value.metadata.createdAt < b.value.metadata.createdAt ? -1 : 1))[0]!;
      for (const p of list) if (p !== keep && budget > 0) stop(p);
      active.set(node, [keep]);
    }
  }

  // Missing pods: one per wanted node that has none and is not waiting for one to stop.
  for (const node of wanted) {
    if (active.has(node) || busy.has(node) || budget <= 0) continue;
    let name = '';
    for (let tries = 0; tries < 20 && (name === '' || taken.has(name)); tries++) name = `${o.name}-${randomSuffix(random)}`;
    if (taken.has(name)) break;
    taken.add(name);
    const rev: Revision = {
      metadata: { name: `${o.name}-${hash}`, namespace: o.namespace, owner: { kind: KIND, name: o.name }, hash, revision: 0, createdAt: iso(now) },
      template: { ...template, spec: specForNode(template.spec, node) },
      replicas: 0,
    };
    const pod = newPod(rev, name, now);
    const key = keys.pod(o.namespace, name);
    plan.compare.push({ key, target: 'createRevision', op: '==', value: 0 });
    plan.ops.push({ type: 'put', key, value: JSON.stringify(pod) });
    plan.created.push(name);
    budget--;
    event('SuccessfulCreate', `Created pod: ${name}`);
  }

  // Rolling update: old pods stop, those already unavailable first, then up to maxUnavailable.
  const desired = wanted.length;
  const strategy = set.spec.updateStrategy?.type ?? 'RollingUpdate';
  const pods = wanted.map((n) => active.get(n)?.[0]).filter((p): p is Stored<Pod> => p !== undefined);
  const alreadyStopping = new Set(plan.stopping.concat(plan.removed));
  if (strategy === 'RollingUpdate') {
    const max = maxUnavailableOf(set.spec.updateStrategy?.rollingUpdate?.maxUnavailable, desired);
    let unavailable = wanted.filter((n) => !active.has(n) || !available(active.get(n)![0]!.value)).length;
    const old = pods.filter((p) => hashOf(p.value) !== hash && !alreadyStopping.has(p.value.metadata.name));
    for (const p of old) if (!available(p.value) && budget > 0) stop(p);
    for (const p of old) {
      if (unavailable >= max || budget <= 0) break;
      if (!available(p.value)) continue;
      stop(p);
      unavailable++;
    }
  }

  const stoppingNow = new Set(plan.stopping.concat(plan.removed));
  const live = pods.filter((p) => !stoppingNow.has(p.value.metadata.name)).map((p) => p.value);
  const ready = live.filter((p) => p.status.phase === 'Running' && p.status.ready).length;
  const avail = live.filter(available).length;
  const updated = live.filter((p) => hashOf(p) === hash).length;
  const done = ready === desired && live.length === desired && misscheduled === 0 && (strategy === 'OnDelete' || updated === desired);
  const prev = o.status?.value;
  const revision = (prev?.revision ?? 0) + (!prev ? 1 : prev.updateRevision !== `${o.name}-${hash}` ? 1 : 0);
  const condStatus = done ? 'True' : 'False';
  const prevCond = prev?.conditions.find((c) => c.type === 'Ready');
  const status: DaemonSetStatus = {
    namespace: o.namespace,
    name: o.name,
    kind: KIND,
    phase: done ? 'Healthy' : 'Progressing',
    revision,
    replicas: desired,
    readyReplicas: ready,
    availableReplicas: avail,
    updatedReplicas: updated,
    desiredNumberScheduled: desired,
    currentNumberScheduled: live.length,
    numberMisscheduled: misscheduled,
    numberReady: ready,
    numberAvailable: avail,
    numberUnavailable: desired - avail,
    updatedNumberScheduled: updated,
    updateRevision: `${o.name}-${hash}`,
    ...(o.commit !== undefined ? { syncedCommit: o.commit } : {}),
    message: `daemon set "${o.name}": ${ready} of ${desired} pods ready, ${updated} updated`,
    conditions: [{ type: 'Ready', status: condStatus, lastTransitionTime: prevCond && prevCond.status === condStatus ? prevCond.lastTransitionTime : iso(now) }],
    observedAt: iso(now),
  };
  plan.status = status;
  const strip = (s: DaemonSetStatus) => JSON.stringify({ ...s, observedAt: '', conditions: s.conditions.map((c) => ({ ...c, lastTransitionTime: '' })) });
  if (!prev || strip(prev) !== strip(status)) {
    if (o.status) guard(o.status);
    else plan.compare.push({ key: keys.status(o.namespace, o.name), target: 'createRevision', op: '==', value: 0 });
    plan.ops.push({ type: 'put', key: keys.status(o.namespace, o.name), value: JSON.stringify(status) });
  }
  return plan;
}
