// A scheduling dry run for `capstan plan --server`: would the changed workloads' pods fit on
// the live nodes? The pure scheduler core places each new pod in turn on a view of the nodes
// and the pods running now, with the decisions of earlier pods (and earlier changes) counted,
// exactly as the scheduling controller would. A pod that fits nowhere gets the scheduler's
// counted reasons ("0/3 nodes are available: 3 Insufficient memory.").
//
// What is counted: a deleted workload's pods are gone; an updated workload's current pods
// make room for the new ones (the state after the rollout), except under blue-green, where
// the preview runs next to the active revision at full size.

import type { NodeInfo as LiveNode, Pod, PodSpec } from '../api/cluster.js';
import type { SourcedObject } from '../api/types.js';
// The scheduling controller's pure pod and node views, not its index: the index loads the
// controller framework and its metrics registry, which a plan never runs (and every `capstan
// plan` would pay for loading).
import { boundPod, ownerKey, podRequest, schedulerNode } from '../controllers/scheduling/view.js';
import { Scheduler, seededRandom } from '../scheduler/index.js';
import { strategyName } from './rollout-preview.js';
import type { Change, SchedulingPreview } from './types.js';

export interface SchedulingInput {
  changes: readonly Change[];
  /** The objects the plan would apply (the head). */
  desired: readonly SourcedObject[];
  nodes: readonly LiveNode[];
  pods: readonly Pod[];
}

const GI = 2 ** 30;
const MI = 2 ** 20;

/** Bytes as Kubernetes writes them: 2Gi, 512Mi, 1.5Gi. */
export function memoryText(bytes: number): string {
  if (bytes >= GI) return `${Number((bytes / GI).toFixed(2))}Gi`;
  if (bytes >= MI) return `${Number((bytes / MI).toFixed(1))}Mi`;
  return `${bytes}`;
}

/** Millicores as Kubernetes writes them: 500m, 2. */
export function cpuText(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

function key(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The pod a workload's template would make (unbound), for the scheduler's request. */
function templatePod(object: SourcedObject['object'], index: number): Pod | undefined {
  const spec = object.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec?: PodSpec } } | undefined;
  if (!spec?.template?.spec) return undefined;
  const namespace = object.metadata.namespace ?? 'default';
  return {
    metadata: {
      name: `${object.metadata.name}-plan-${index}`,
      namespace,
      labels: spec.template.metadata?.labels ?? {},
      owner: { kind: object.kind, name: object.metadata.name, revision: 'plan' },
      createdAt: new Date(0).toISOString(),
    },
    spec: spec.template.spec,
    status: { phase: 'Pending', ready: false },
  };
}

function replicasOf(object: SourcedObject['object']): number {
  const r = (object.spec as { replicas?: unknown } | undefined)?.replicas;
  return typeof r === 'number' && r >= 0 ? r : 1;
}

/** Per changed workload (by `Kind/namespace/name`), whether its pods fit. */
export function dryRunScheduling(input: SchedulingInput): Map<string, SchedulingPreview> {
  const scheduler = new Scheduler({
    // Node readiness as the API reports it (the server counts the lease in it).
    nodes: input.nodes.map((n) => schedulerNode(n, n.status?.ready === true)),
    random: seededRandom(1),
  });
  const known = new Set(input.nodes.map((n) => n.name));
  const byOwner = new Map<string, string[]>();
  for (const p of input.pods) {
    const b = boundPod(p);
    if (!b || !known.has(b.node)) continue;
    scheduler.assume(b, b.node);
    const owner = ownerKey(p);
    if (owner) byOwner.set(owner, [...(byOwner.get(owner) ?? []), b.id]);
  }
  const release = (kind: string, namespace: string, name: string): void => {
    for (const id of byOwner.get(`${namespace}/${kind}/${name}`) ?? []) scheduler.forget(id);
  };

  const desired = new Map(input.desired.map((d) => [key(d.object.kind, d.object.metadata.namespace ?? 'default', d.object.metadata.name), d.object]));
  const out = new Map<string, SchedulingPreview>();
  const workloads = input.changes.filter((c) => c.kind === 'Deployment' || c.kind === 'Rollout');
  for (const c of workloads) if (c.action === 'delete') release(c.kind, c.namespace, c.name);
  for (const c of workloads) {
    if (c.action === 'delete') continue;
    const object = desired.get(key(c.kind, c.namespace, c.name));
    if (!object) continue;
    if (c.action === 'update' && strategyName(((object.spec as { strategy?: object } | undefined)?.strategy ?? {}) as Parameters<typeof strategyName>[0]) !== 'BlueGreen') release(c.kind, c.namespace, c.name);
    const wanted = replicasOf(object);
    const used = new Set<string>();
    let placed = 0;
    let failure: { reason: string; failures: Record<string, number> } | undefined;
    let request = { cpu: 0, memory: 0 };
    for (let i = 0; i < wanted; i++) {
      const pod = templatePod(object, i);
      if (!pod) break;
      const req = podRequest(pod);
      request = { cpu: req.cpu, memory: req.memory };
      const d = scheduler.schedule(req);
      if (!d.fits) {
        failure = { reason: d.reason, failures: d.failures };
        break;
      }
      scheduler.assume(req, d.node);
      used.add(d.node);
      placed++;
    }
    const asks = [request.memory > 0 ? `${memoryText(request.memory)} memory` : '', request.cpu > 0 ? `${cpuText(request.cpu)} cpu` : ''].filter(Boolean).join(', ');
    out.set(key(c.kind, c.namespace, c.name), {
      fits: failure === undefined,
      pods: wanted,
      placed,
      nodes: used.size,
      request,
      ...(failure ? { reason: failure.reason, failures: failure.failures } : {}),
      summary: failure
        ? `does not fit: ${placed}/${wanted} pods placed; ${failure.reason.replace(/\.$/, '')}${asks ? ` (each pod requests ${asks})` : ''}`
        : `fits: ${wanted} pod${wanted === 1 ? '' : 's'} on ${used.size} node${used.size === 1 ? '' : 's'}`,
    });
  }
  return out;
}

/** The plan's changes with `scheduling` set on each workload the dry run placed. */
export function withScheduling(changes: readonly Change[], previews: ReadonlyMap<string, SchedulingPreview>): Change[] {
  return changes.map((c) => {
    const s = previews.get(key(c.kind, c.namespace, c.name));
    return s ? { ...c, scheduling: s } : c;
  });
}
