// Pure mapping from stored objects to the scheduler core's cluster view: a node is ready only
// while its lease exists and it says so itself; a bound pod counts against its node until it
// has finished (Succeeded, Failed or terminated), as kube-scheduler ignores terminal pods.
import { STORE_PREFIX, type ContainerSpec, type NodeInfo as StoredNode, type Pod } from '../../api/cluster.js';
import { parseQuantity } from '../../api/index.js';
import type { BoundPod, HostPort, NodeInfo, PodRequest } from '../../scheduler/index.js';

/** `<namespace>/<name>`: the pod's id in the cluster view and its store key suffix. */
export function podId(pod: Pod): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}

export function podKey(namespace: string, name: string): string {
  return `${STORE_PREFIX.pods}${namespace}/${name}`;
}

/** Pods of one workload share this key, so the scheduler spreads them across nodes. */
export function ownerKey(pod: Pod): string | undefined {
  const o = pod.metadata.owner;
  return o ? `${pod.metadata.namespace}/${o.kind}/${o.name}` : undefined;
}

function quantity(q: string | number | undefined, resource: 'cpu' | 'memory'): number {
  if (q === undefined) return 0;
  try {
    return parseQuantity(q, resource);
  } catch {
    return 0; // validation rejects bad quantities before a pod exists; never block scheduling on one
  }
}

/**
 * What the scheduler needs from a pod: its effective requests, host ports, placement rules.
 * The effective request is Kubernetes': the larger of the main containers plus the sidecars
 * (init containers with `restartPolicy: Always`, which keep running) and, for each other init
 * container, its own request plus the sidecars started before it.
 */
export function podRequest(pod: Pod): PodRequest {
  const hostPorts: HostPort[] = [];
  const ask = (c: ContainerSpec): { cpu: number; memory: number } => {
    for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort > 0) hostPorts.push({ port: p.hostPort, protocol: p.protocol ?? 'TCP' });
    return { cpu: quantity(c.resources?.requests?.cpu, 'cpu'), memory: quantity(c.resources?.requests?.memory, 'memory') };
  };
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec.containers ?? []) {
    const a = ask(c);
    cpu += a.cpu;
    memory += a.memory;
  }
  let sidecarCpu = 0;
  let sidecarMemory = 0;
  let initCpu = 0;
  let initMemory = 0;
  for (const c of pod.spec.initContainers ?? []) {
    const a = ask(c);
    if (c.restartPolicy === 'Always') {
      sidecarCpu += a.cpu;
      sidecarMemory += a.memory;
    }
    initCpu = Math.max(initCpu, c.restartPolicy === 'Always' ? sidecarCpu : sidecarCpu + a.cpu);
    initMemory = Math.max(initMemory, c.restartPolicy === 'Always' ? sidecarMemory : sidecarMemory + a.memory);
  }
  cpu = Math.max(cpu + sidecarCpu, initCpu);
  memory = Math.max(memory + sidecarMemory, initMemory);
  const req: PodRequest = { id: podId(pod), cpu, memory, namespace: pod.metadata.namespace, labels: pod.metadata.labels ?? {} };
  const owner = ownerKey(pod);
  if (owner !== undefined) req.owner = owner;
  if (hostPorts.length > 0) req.hostPorts = hostPorts;
  if (pod.spec.nodeSelector !== undefined) req.nodeSelector = pod.spec.nodeSelector;
  if (pod.spec.affinity !== undefined) req.affinity = pod.spec.affinity;
  if (pod.spec.tolerations !== undefined) req.tolerations = pod.spec.tolerations;
  if (pod.spec.topologySpreadConstraints !== undefined) req.topologySpreadConstraints = pod.spec.topologySpreadConstraints;
  if (pod.spec.priority !== undefined) req.priority = pod.spec.priority;
  if (pod.spec.preemptionPolicy !== undefined) req.preemptionPolicy = pod.spec.preemptionPolicy;
  return req;
}

/** A pod that has stopped for good no longer holds resources on its node. */
export function holdsResources(pod: Pod): boolean {
  if (pod.status?.terminatedAt !== undefined) return false;
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

/** Waiting for a node: not bound and not being deleted. */
export function needsScheduling(pod: Pod): boolean {
  return (pod.spec.nodeName === undefined || pod.spec.nodeName === '') && pod.metadata.deletionRequestedAt === undefined;
}

export function schedulerNode(node: StoredNode, leasePresent: boolean): NodeInfo {
  const info: NodeInfo = {
    name: node.name,
    labels: node.labels ?? {},
    allocatable: { cpu: node.capacity.cpu, memory: node.capacity.memory, pods: node.capacity.pods },
    ready: leasePresent && node.status?.ready === true,
    unschedulable: node.unschedulable === true,
  };
  if (node.taints !== undefined) info.taints = node.taints;
  return info;
}

export function boundPod(pod: Pod): BoundPod | undefined {
  const node = pod.spec.nodeName;
  if (node === undefined || node === '' || !holdsResources(pod)) return undefined;
  const b: BoundPod = { ...podRequest(pod), node };
  if (pod.metadata.deletionRequestedAt !== undefined) b.terminating = true;
  const started = Date.parse(pod.status?.startedAt ?? pod.metadata.createdAt ?? '');
  if (Number.isFinite(started)) b.startTime = started;
  return b;
}

/** Pending pods in the order they should be tried: oldest first, then by name (stable). */
export function schedulingOrder(a: Pod, b: Pod): number {
  const t = (a.metadata.createdAt ?? '').localeCompare(b.metadata.createdAt ?? '');
  return t !== 0 ? t : podId(a).localeCompare(podId(b));
}
