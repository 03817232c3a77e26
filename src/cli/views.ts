// The JSON shapes of contract.md, from what the API serves. Only fields listed here are
// promised to scripts; the rest may change.

import type { NodeInfo, Pod } from '../api/cluster.js';
import { parseQuantity } from '../api/index.js';

export interface DeploymentView {
  kind?: string;
  namespace: string;
  name: string;
  phase: string;
  revision: number;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  syncedCommit?: string | null;
  message: string;
  step?: number;
  stepCount?: number;
  weight?: number;
}

export function contractDeployment(d: DeploymentView): DeploymentView {
  const out: DeploymentView = {
    kind: d.kind,
    namespace: d.namespace,
    name: d.name,
    phase: d.phase,
    revision: d.revision,
    replicas: d.replicas,
    readyReplicas: d.readyReplicas,
    updatedReplicas: d.updatedReplicas,
    syncedCommit: d.syncedCommit ?? null,
    message: d.message ?? '',
  };
  if (d.stepCount !== undefined) {
    out.step = d.step ?? 0;
    out.stepCount = d.stepCount;
    out.weight = d.weight ?? 0;
  }
  return out;
}

export function contractPod(p: Pod) {
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    node: p.spec.nodeName ?? null,
    phase: p.status?.phase ?? 'Pending',
    ready: p.status?.ready === true,
    /** Ready containers of all, as kubectl's READY (`1/1`); init containers are not counted. */
    containers: `${p.status?.containerStatuses ? p.status.containerStatuses.filter((c) => c.ready).length : p.status?.ready ? (p.spec.containers ?? []).length : 0}/${(p.spec.containers ?? []).length}`,
    createdAt: p.metadata.createdAt ?? null,
    revision: p.metadata.owner?.revision ?? p.metadata.labels?.['capstan.dev/revision-hash'] ?? '',
    restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
    reason: p.status?.reason ?? containerReason(p)?.reason,
    message: p.status?.message ?? containerReason(p)?.message,
  };
}

/** As kubectl shows it: a pod without a reason of its own takes its first waiting container's (CrashLoopBackOff). */
function containerReason(p: Pod): { reason: string; message?: string } | undefined {
  for (const c of p.status?.containerStatuses ?? []) {
    if ('waiting' in c.state) return c.state.waiting;
  }
  return undefined;
}

function requests(pod: Pod): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec.containers ?? []) {
    const r = c.resources?.requests;
    if (r?.cpu !== undefined) cpu += parseQuantity(r.cpu, 'cpu');
    if (r?.memory !== undefined) memory += parseQuantity(r.memory, 'memory');
  }
  return { cpu, memory };
}

export function contractNode(n: NodeInfo, pods: Pod[]) {
  const mine = pods.filter((p) => p.spec.nodeName === n.name && !p.status?.terminatedAt);
  const allocated = mine.reduce(
    (sum, p) => {
      const r = requests(p);
      return { cpu: sum.cpu + r.cpu, memory: sum.memory + r.memory, pods: sum.pods + 1 };
    },
    { cpu: 0, memory: 0, pods: 0 },
  );
  return { name: n.name, ready: n.status?.ready === true, unschedulable: n.unschedulable === true, runtime: n.runtime, capacity: n.capacity, allocated, labels: n.labels ?? {} };
}

interface ServiceLike {
  namespace: string;
  name: string;
  address?: string | string[] | null;
  endpoints?: string[];
  weights?: Record<string, number>;
  nodePorts?: number[];
  clusterIP?: 'None';
  object?: { spec?: { selector?: Record<string, string>; ports?: { port: number; targetPort?: number | string; name?: string }[] } };
}

/**
 * Service address, ready endpoints and weights. The router fills these in the status when it
 * runs; without one, endpoints come from ready pods that match the selector.
 */
export function contractService(raw: Record<string, unknown>, pods: Pod[]) {
  const s = raw as unknown as ServiceLike;
  const spec = s.object?.spec ?? {};
  const ports = spec.ports ?? [];
  const address = s.address ?? (ports.length === 1 ? `127.0.0.1:${ports[0]!.port}` : ports.map((p) => `127.0.0.1:${p.port}`));
  let endpoints = s.endpoints ?? [];
  let weights = s.weights ?? {};
  if (endpoints.length === 0 && spec.selector) {
    const selector = Object.entries(spec.selector);
    const ready = pods.filter((p) => p.metadata.namespace === s.namespace && p.status?.ready && selector.every(([k, v]) => p.metadata.labels?.[k] === v));
    const target = ports[0]?.targetPort ?? ports[0]?.port;
    endpoints = ready.map((p) => `${p.status.hostIP ?? '127.0.0.1'}:${p.status.ports?.[String(target)] ?? target}`);
    if (Object.keys(weights).length === 0 && ready.length > 0) {
      const byRevision = new Map<string, number>();
      for (const p of ready) byRevision.set(p.metadata.owner.revision, (byRevision.get(p.metadata.owner.revision) ?? 0) + 1);
      weights = Object.fromEntries([...byRevision].map(([r, n]) => [r, Math.round((n / ready.length) * 100)]));
    }
  }
  const out: { namespace: string; name: string; address: string | string[]; endpoints: string[]; weights: Record<string, number>; nodePorts?: number[]; clusterIP?: 'None' } =
    { namespace: s.namespace, name: s.name, address, endpoints, weights };
  // NodePort / LoadBalancer: the node port of each Service port; headless: no address of its own.
  if (s.nodePorts !== undefined) out.nodePorts = s.nodePorts;
  if (s.clusterIP === 'None') out.clusterIP = 'None';
  return out;
}
