// `capstan describe KIND NAME`: one object the way an operator needs it when something is
// wrong: where it comes from in Git, what it asks for, its status and conditions, its pods,
// and its recent events. Read from the API in one round; -o json/yaml gives all of it whole.
import { CapstanError } from '../../common/errors.js';
import type { ClusterEvent, NodeInfo, Pod } from '../../api/cluster.js';
import { connect, type ApiClient } from '../api-client.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';
import { contractPod } from '../views.js';
import type { CommonOptions } from './cluster.js';

/** KIND as typed → the API kind; the same short names as `get`. */
const KINDS: Record<string, string> = {
  deployment: 'Deployment', deployments: 'Deployment', deploy: 'Deployment',
  rollout: 'Rollout', rollouts: 'Rollout', ro: 'Rollout',
  statefulset: 'StatefulSet', statefulsets: 'StatefulSet', sts: 'StatefulSet',
  daemonset: 'DaemonSet', daemonsets: 'DaemonSet', ds: 'DaemonSet',
  service: 'Service', services: 'Service', svc: 'Service',
  configmap: 'ConfigMap', configmaps: 'ConfigMap', cm: 'ConfigMap',
  secret: 'Secret', secrets: 'Secret',
  cronjob: 'CronJob', cronjobs: 'CronJob', cj: 'CronJob',
  job: 'Job', jobs: 'Job',
  ingress: 'Ingress', ingresses: 'Ingress', ing: 'Ingress',
  persistentvolumeclaim: 'PersistentVolumeClaim', persistentvolumeclaims: 'PersistentVolumeClaim', pvc: 'PersistentVolumeClaim',
  horizontalpodautoscaler: 'HorizontalPodAutoscaler', hpa: 'HorizontalPodAutoscaler',
  pod: 'Pod', pods: 'Pod', po: 'Pod',
  node: 'Node', nodes: 'Node', no: 'Node',
};

/** Status of these comes from the joined resource `get` reads. */
const JOINED: Record<string, string> = { Deployment: 'deployments', Rollout: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', Service: 'services' };

interface DesiredItem {
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, unknown>; stringData?: Record<string, unknown>; type?: string };
  source?: { file: string; line: number };
  commit?: string;
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface Described {
  kind: string;
  namespace: string | null;
  name: string;
  object?: DesiredItem['object'] | Pod | NodeInfo;
  source?: { file: string; line: number; commit: string | null };
  status?: Record<string, unknown>;
  pods: ReturnType<typeof contractPod>[];
  events: ClusterEvent[];
}

async function list<T>(api: ApiClient, resource: string, namespace?: string): Promise<T[]> {
  const q = namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
  return (await api.get<{ items?: T[] }>(`/api/v1/${resource}${q}`)).items ?? [];
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export async function gatherDescribe(api: ApiClient, kindArg: string, name: string, namespace: string): Promise<Described> {
  const kind = KINDS[kindArg.toLowerCase()];
  if (!kind) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `cannot describe "${kindArg}"; use one of ${[...new Set(Object.values(KINDS))].join(', ')}`);
  const events = async (object: string, ns?: string) =>
    (await list<ClusterEvent>(api, 'events', ns)).filter((e) => e.object === object).sort((a, b) => a.lastSeen.localeCompare(b.lastSeen)).slice(-20);

  if (kind === 'Node') {
    const node = (await list<NodeInfo>(api, 'nodes')).find((n) => n.name === name);
    if (!node) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `node "${name}" not found`);
    const pods = (await list<Pod>(api, 'pods')).filter((p) => p.spec.nodeName === name).map(contractPod);
    return { kind, namespace: null, name, object: node, pods, events: await events(`Node/${name}`) };
  }
  if (kind === 'Pod') {
    const pod = (await list<Pod>(api, 'pods', namespace)).find((p) => p.metadata.name === name);
    if (!pod) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `pod "${name}" not found in namespace ${namespace}`);
    return { kind, namespace, name, object: pod, pods: [contractPod(pod)], events: await events(`Pod/${name}`, namespace) };
  }
  const desired = (await list<DesiredItem>(api, 'desired', namespace)).find((d) => d.object.kind === kind && d.object.metadata.name === name);
  if (!desired) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${kind} "${name}" not found in namespace ${namespace}`);
  const joined = JOINED[kind];
  const status = joined ? (await list<Record<string, unknown>>(api, joined, namespace)).find((s) => s.name === name && (s.kind === undefined || s.kind === kind)) : undefined;
  const allPods = await list<Pod>(api, 'pods', namespace);
  const selector = (desired.object.spec?.selector as { matchLabels?: Record<string, string> } | Record<string, string> | undefined) ?? undefined;
  const podSelector = kind === 'Service' ? (selector as Record<string, string> | undefined) : (selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
  const pods = allPods.filter((p) => p.metadata.owner?.name === name || matches(podSelector, p.metadata.labels ?? {})).map(contractPod);
  return {
    kind,
    namespace,
    name,
    object: desired.object,
    ...(desired.source ? { source: { file: desired.source.file, line: desired.source.line, commit: desired.commit ?? null } } : {}),
    ...(status ? { status } : {}),
    pods,
    events: await events(`${kind}/${name}`, namespace),
  };
}

function kv(rows: [string, string | undefined][]): string {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
}

function labels(l: Record<string, string> | undefined): string | undefined {
  return l && Object.keys(l).length > 0 ? Object.entries(l).map(([k, v]) => `${k}=${v}`).join(', ') : undefined;
}

function containerLines(spec: Record<string, unknown> | undefined): string[] {
  const template = (spec?.template as { spec?: { containers?: Container[]; initContainers?: Container[] } } | undefined)?.spec ?? (spec as { containers?: Container[] } | undefined);
  const out: string[] = [];
  for (const c of [...((template as { initContainers?: Container[] })?.initContainers ?? []).map((c) => ({ ...c, init: true })), ...(template?.containers ?? [])]) {
    const ports = (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}${p.name ? ` (${p.name})` : ''}`).join(', ');
    const req = Object.entries(c.resources?.requests ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    const lim = Object.entries(c.resources?.limits ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    out.push(`  ${c.name}${'init' in c ? ' (init)' : ''}: ${c.image ?? '<no image>'}${ports ? `  ports ${ports}` : ''}${req ? `  requests ${req}` : ''}${lim ? `  limits ${lim}` : ''}`);
  }
  return out;
}

function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}

export function describeText(d: Described): string {
  const o = d.object as DesiredItem['object'] | undefined;
  const parts: string[] = [];
  const head: [string, string | undefined][] = [
    ['Name', d.name],
    ['Namespace', d.namespace ?? undefined],
    ['Kind', d.kind],
    ['Source', d.source ? `${d.source.file}:${d.source.line}${d.source.commit ? ` (commit ${d.source.commit.slice(0, 12)})` : ''}` : undefined],
    ['Labels', labels(d.kind === 'Node' ? (d.object as NodeInfo).labels : d.kind === 'Pod' ? (d.object as Pod).metadata.labels : o?.metadata.labels)],
  ];
  if (d.status) {
    const s = d.status;
    head.push(['Status', `${String(s.phase ?? '')}${s.revision !== undefined ? `, revision ${String(s.revision)}` : ''}${s.message ? ` — ${String(s.message)}` : ''}`]);
    if (s.replicas !== undefined) head.push(['Replicas', `${String(s.replicas)} desired, ${String(s.readyReplicas ?? 0)} ready, ${String(s.updatedReplicas ?? 0)} up to date`]);
    if (s.stepCount) head.push(['Step', `${Math.min(Number(s.step ?? 0) + 1, Number(s.stepCount))}/${String(s.stepCount)}${s.weight !== undefined ? `, canary weight ${String(s.weight)}%` : ''}`]);
  }
  if (d.kind === 'Secret' || d.kind === 'ConfigMap') {
    const keys = Object.keys({ ...(o?.data ?? {}), ...(o?.stringData ?? {}) });
    head.push(['Type', d.kind === 'Secret' ? (o?.type ?? 'Opaque') : undefined], ['Keys', keys.length > 0 ? keys.join(', ') : '<none>']);
  }
  if (d.kind === 'Pod') {
    const p = d.object as Pod;
    head.push(['Node', p.spec.nodeName ?? '<not scheduled>'], ['Phase', `${p.status?.phase ?? 'Pending'}${p.status?.reason ? ` (${p.status.reason}${p.status.message ? `: ${p.status.message}` : ''})` : ''}`], ['Owner', p.metadata.owner ? `${p.metadata.owner.kind}/${p.metadata.owner.name}` : undefined]);
  }
  if (d.kind === 'Node') {
    const n = d.object as NodeInfo;
    head.push(['Runtime', n.runtime], ['Capacity', `cpu ${n.capacity.cpu}m, memory ${Math.round(n.capacity.memory / 2 ** 20)}Mi, pods ${n.capacity.pods}`], ['Taints', (n.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ') || undefined]);
  }
  parts.push(kv(head));
  const containers = containerLines(d.kind === 'Pod' ? ((d.object as Pod).spec as unknown as Record<string, unknown>) : o?.spec);
  if (containers.length > 0) parts.push(`Containers:\n${containers.join('\n')}`);
  if (d.kind === 'Pod') {
    const statuses = (d.object as Pod).status?.containerStatuses ?? [];
    if (statuses.length > 0) {
      parts.push(
        `Container states:\n${statuses
          .map((c) => {
            const state = 'running' in c.state ? `running since ${c.state.running.startedAt}` : 'waiting' in c.state ? `waiting: ${c.state.waiting.reason}${c.state.waiting.message ? ` (${c.state.waiting.message})` : ''}` : `terminated: ${c.state.terminated.reason}, exit ${c.state.terminated.exitCode}`;
            return `  ${c.name}: ${state}; ready ${c.ready}, restarts ${c.restartCount}`;
          })
          .join('\n')}`,
      );
    }
  }
  if (d.kind !== 'Pod' && d.pods.length > 0) parts.push(`Pods:\n${table(['NAME', 'READY', 'PHASE', 'RESTARTS', 'NODE'], d.pods.map((p) => [p.name, p.containers, !p.ready && p.reason ? `${p.phase} (${p.reason})` : p.phase, String(p.restarts), p.node ?? '<none>']))}`.trimEnd());
  parts.push(d.events.length > 0 ? `Events:\n${table(['LAST SEEN', 'TYPE', 'REASON', 'COUNT', 'MESSAGE'], d.events.map((e) => [age(e.lastSeen), e.type, e.reason, String(e.count), e.message]))}`.trimEnd() : 'Events:  <none>');
  return `${parts.join('\n\n')}\n`;
}

export async function runDescribe(io: CliIO, kind: string, name: string | undefined, opts: CommonOptions): Promise<void> {
  const api = connect(io, opts);
  // `describe deploy/web` as kubectl takes it.
  const [k, n] = name === undefined && kind.includes('/') ? (kind.split('/', 2) as [string, string]) : [kind, name];
  if (!n) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'describe takes KIND NAME or KIND/NAME');
  const d = await gatherDescribe(api, k, n, opts.namespace ?? 'default');
  if (opts.output === 'json') io.out(`${JSON.stringify(d, null, 2)}\n`);
  else if (opts.output === 'yaml') io.out((await import('yaml')).stringify(d));
  else io.out(describeText(d));
}
