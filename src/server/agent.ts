// Writes from node agents. A node registers and heartbeats with PUT /nodes/{name}: the node
// object is written, and a lease key under /capstan/leases/nodes/<name> is kept alive; when
// the agent stops heartbeating the store expires the lease and deletes that key, which is
// how the control plane notices a dead node (as Kubernetes' node Lease objects).
import { randomBytes } from 'node:crypto';
import { STORE_PREFIX, type NodeInfo, type Pod, type PodPhase, type PodStatus } from '../api/cluster.js';
import { CapstanError, isCapstanError } from '../common/index.js';
import type { KV } from '../store/index.js';
import { forbidden, type Principal } from './auth.js';
import { apiError, isRecord } from './http.js';

export const NODE_LEASE_PREFIX = `${STORE_PREFIX.leases}nodes/`;

const PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

function bad(message: string): CapstanError {
  return apiError('CAPSTAN_ERR_API_BAD_REQUEST', message);
}

// The server cannot see the agent's machine: capacity is taken as reported. The agent refuses a
// --capacity above its machine unless started with --allow-overcommit (src/cli/commands/agent.ts).
function checkNodeBody(name: string, body: unknown): void {
  if (!isRecord(body)) throw bad('the body must be a node object');
  if (body.name !== undefined && body.name !== name) throw bad(`the body names node ${JSON.stringify(body.name)} but the path names ${name}`);
  const cap = body.capacity;
  if (!isRecord(cap) || !['cpu', 'memory', 'pods'].every((k) => typeof cap[k] === 'number' && (cap[k] as number) >= 0)) {
    throw bad('capacity must have numbers cpu (millicores), memory (bytes) and pods');
  }
  if (body.runtime !== 'docker' && body.runtime !== 'process') throw bad('runtime must be docker or process');
  if (body.labels !== undefined && (!isRecord(body.labels) || !Object.values(body.labels).every((v) => typeof v === 'string'))) {
    throw bad('labels must map strings to strings');
  }
  if (!isRecord(body.status) || typeof body.status.address !== 'string') throw bad('status.address must be set');
}

/** Label prefixes only the control plane sets: `capstan.dev/` and any `<sub>.capstan.dev/`. */
export function isReservedLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash).toLowerCase();
  return prefix === 'capstan.dev' || prefix.endsWith('.capstan.dev');
}

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * Labels an agent may not set on its own node (as Kubernetes' NodeRestriction): anything under
 * the reserved `capstan.dev/` prefixes, and `kubernetes.io/hostname` other than its node name.
 * Admins are not restricted.
 */
function checkAgentLabels(principal: Principal, name: string, labels: Record<string, string> | undefined): void {
  if (principal.role === 'admin' || !labels) return;
  for (const [key, value] of Object.entries(labels)) {
    if (isReservedLabel(key)) {
      throw forbidden(principal, `set label ${key} on node ${name}: labels under capstan.dev/ are set by the control plane only`);
    }
    if (key === HOSTNAME_LABEL && value !== name) {
      throw forbidden(principal, `set label ${HOSTNAME_LABEL}=${value} on node ${name}: it must equal the node's own name`);
    }
  }
}

export function checkAgentNode(principal: Principal, node: string): void {
  if (principal.role === 'admin') return;
  if (principal.role !== 'agent' || principal.node !== node) throw forbidden(principal, `act for node ${node}`);
}

export interface NodeHeartbeatResult {
  node: NodeInfo;
  /**
   * The secret the API server sends as a bearer token to this node's agent port (logs and
   * exec); in an agent's answers only. Kept under STORE_PREFIX.proxySecrets, never served.
   */
  proxySecret?: string;
  leaseId: number;
  leaseSeconds: number;
  /** Whether the node object was written (it is skipped when nothing but the heartbeat time changed recently). */
  written: boolean;
}

export interface HeartbeatOptions {
  leaseSeconds: number;
  /** Rewrite an unchanged node at most this often (default 60 s); liveness is the lease's job. */
  statusUpdateSeconds?: number;
  now: () => number;
}

function sameExceptHeartbeat(a: NodeInfo, b: NodeInfo): boolean {
  const strip = (n: NodeInfo): string => JSON.stringify({ ...n, status: { ...n.status, lastHeartbeat: '' } });
  return strip(a) === strip(b);
}

/**
 * Registers or refreshes a node. Each heartbeat renews the node's lease (a new lease after
 * expiry); the node object itself is written only when it changed or once per
 * statusUpdateSeconds, so thousands of idle nodes do not flood watchers (as the kubelet).
 */
export async function heartbeatNode(kv: KV, principal: Principal, name: string, body: unknown, options: HeartbeatOptions): Promise<NodeHeartbeatResult> {
  checkAgentNode(principal, name);
  checkNodeBody(name, body);
  const b = body as NodeInfo;
  checkAgentLabels(principal, name, b.labels);
  const secret = principal.role === 'agent' ? { proxySecret: await ensureProxySecret(kv, name) } : {};
  const { leaseSeconds, now } = options;
  const at = new Date(now()).toISOString();
  const node: NodeInfo = {
    ...b,
    name,
    labels: b.labels ?? {},
    status: { ...b.status, ready: b.status.ready ?? true, lastHeartbeat: at },
  };
  const leaseKey = NODE_LEASE_PREFIX + name;
  const current = await kv.get(leaseKey);
  let leaseId = current?.lease || undefined;
  if (leaseId !== undefined) {
    try {
      await kv.keepAlive(leaseId);
    } catch (err) {
      if (!isCapstanError(err, 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND')) throw err;
      leaseId = undefined;
    }
  }
  if (leaseId === undefined) {
    leaseId = (await kv.grant(leaseSeconds)).id;
    await kv.put(leaseKey, JSON.stringify({ holder: name, acquiredAt: at, leaseDurationSeconds: leaseSeconds }), { lease: leaseId });
  }

  // The node object is written by compare-and-swap, so a cordon (`unschedulable`, set by an
  // admin through src/server/nodes-admin.ts) between the read and the write is never lost.
  const nodeKey = STORE_PREFIX.nodes + name;
  const maxAgeMs = (options.statusUpdateSeconds ?? 60) * 1000;
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await kv.get(nodeKey);
    let previous: NodeInfo | undefined;
    try {
      previous = stored ? (JSON.parse(Buffer.from(stored.value).toString('utf8')) as NodeInfo) : undefined;
    } catch {
      previous = undefined;
    }
    const next = keepAdminFields(node, previous, principal, b.unschedulable);
    const fresh = previous !== undefined && now() - Date.parse(previous.status?.lastHeartbeat ?? '') < maxAgeMs;
    if (previous && fresh && sameExceptHeartbeat(previous, next)) {
      return { node: previous, leaseId, leaseSeconds, written: false, ...secret };
    }
    const r = await kv.txn({
      compare: [stored ? { key: nodeKey, target: 'modRevision', op: '==', value: stored.modRevision } : { key: nodeKey, target: 'createRevision', op: '==', value: 0 }],
      success: [{ type: 'put', key: nodeKey, value: JSON.stringify(next) }],
      failure: [],
    });
    if (r.succeeded) return { node: next, leaseId, leaseSeconds, written: true, ...secret };
  }
  throw apiError('CAPSTAN_ERR_API_CONFLICT', `node ${name} kept changing while its heartbeat was written`);
}

/** The node's proxy secret, made (32 random bytes) the first time its agent registers. */
export async function ensureProxySecret(kv: KV, node: string): Promise<string> {
  const key = STORE_PREFIX.proxySecrets + node;
  for (let attempt = 0; attempt < 3; attempt++) {
    const stored = await kv.get(key);
    if (stored) return Buffer.from(stored.value).toString('utf8');
    const secret = randomBytes(32).toString('base64url');
    const r = await kv.txn({ compare: [{ key, target: 'createRevision', op: '==', value: 0 }], success: [{ type: 'put', key, value: secret }], failure: [] });
    if (r.succeeded) return secret;
  }
  throw apiError('CAPSTAN_ERR_API_CONFLICT', `the proxy secret of node ${node} kept changing while it was read`);
}

/** The node's proxy secret, or undefined before its agent first registered. */
export async function readProxySecret(kv: KV, node: string): Promise<string | undefined> {
  const stored = await kv.get(STORE_PREFIX.proxySecrets + node);
  return stored ? Buffer.from(stored.value).toString('utf8') : undefined;
}

/**
 * `unschedulable` belongs to admins (`capstan node cordon`): an agent's registration or
 * heartbeat keeps what is stored, whatever its body says. An admin's PUT may set it.
 */
function keepAdminFields(node: NodeInfo, previous: NodeInfo | undefined, principal: Principal, asked: unknown): NodeInfo {
  const { unschedulable: _dropped, ...rest } = node;
  const value = principal.role === 'admin' && typeof asked === 'boolean' ? asked : previous?.unschedulable === true;
  return value ? { ...rest, unschedulable: true } : rest;
}

function checkPodStatus(body: unknown): PodStatus {
  if (!isRecord(body)) throw bad('the body must be a pod status object');
  if (!PHASES.includes(body.phase as PodPhase)) throw bad(`phase must be one of ${PHASES.join(', ')}`);
  if (typeof body.ready !== 'boolean') throw bad('ready must be true or false');
  if (body.containerStatuses !== undefined && !Array.isArray(body.containerStatuses)) throw bad('containerStatuses must be a list');
  return body as unknown as PodStatus;
}

/**
 * Replaces a pod's status, only if the pod is bound to the agent's node. Compare-and-swap on
 * the pod's modRevision, so a concurrent spec change (e.g. deletion requested) is never lost.
 */
export async function writePodStatus(kv: KV, principal: Principal, namespace: string, name: string, body: unknown): Promise<Pod> {
  const status = checkPodStatus(body);
  const key = `${STORE_PREFIX.pods}${namespace}/${name}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await kv.get(key);
    if (!current) {
      if (principal.role !== 'admin') throw forbidden(principal, `write pod ${namespace}/${name}`);
      throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `pod ${namespace}/${name} does not exist`);
    }
    const pod = JSON.parse(Buffer.from(current.value).toString('utf8')) as Pod;
    if (principal.role !== 'admin') {
      if (principal.role !== 'agent' || !principal.node || pod.spec.nodeName !== principal.node) {
        throw forbidden(principal, `write the status of pod ${namespace}/${name}, which is not bound to its node`);
      }
    }
    const next: Pod = { ...pod, status };
    const r = await kv.txn({
      compare: [{ key, target: 'modRevision', op: '==', value: current.modRevision }],
      success: [{ type: 'put', key, value: JSON.stringify(next) }],
      failure: [],
    });
    if (r.succeeded) return next;
  }
  throw apiError('CAPSTAN_ERR_API_CONFLICT', `pod ${namespace}/${name} kept changing while its status was written`);
}

/**
 * Whether an agent may read desired object `[kind, namespace, name]`: only a ConfigMap or
 * Secret that a pod bound to its node names in `env`, `envFrom`, `imagePullSecrets` or a
 * configMap, secret or projected volume (as NodeRestriction).
 */
export async function agentNeedsEnvSource(kv: KV, principal: Principal, segments: string[]): Promise<boolean> {
  const [kind, namespace, name] = segments;
  if ((kind !== 'ConfigMap' && kind !== 'Secret') || !namespace || !name || !principal.node) return false;
  const pods = await kv.range(`${STORE_PREFIX.pods}${namespace}/`, { prefix: true });
  for (const item of pods.kvs) {
    let pod: Pod;
    try {
      pod = JSON.parse(Buffer.from(item.value).toString('utf8')) as Pod;
    } catch {
      continue;
    }
    if (pod.spec?.nodeName !== principal.node) continue;
    if (kind === 'Secret' && (pod.spec.imagePullSecrets ?? []).some((s) => s.name === name)) return true;
    // configMap, secret and projected volumes read their objects the same way.
    for (const v of pod.spec.volumes ?? []) {
      const direct = kind === 'ConfigMap' ? v.configMap?.name : v.secret?.secretName;
      if (direct === name || (v.projected?.sources ?? []).some((src) => (kind === 'ConfigMap' ? src.configMap : src.secret)?.name === name)) return true;
    }
    for (const c of [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])]) {
      for (const f of c.envFrom ?? []) {
        if ((kind === 'ConfigMap' ? f.configMapRef : f.secretRef)?.name === name) return true;
      }
      for (const v of c.env ?? []) {
        if ((kind === 'ConfigMap' ? v.valueFrom?.configMapKeyRef : v.valueFrom?.secretKeyRef)?.name === name) return true;
      }
    }
  }
  return false;
}
