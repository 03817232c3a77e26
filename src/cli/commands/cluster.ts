// Commands that read and steer a running Capstan: get, status, history, sync, and the
// rollout controls (promote, abort, retry, pause, resume, rollback).

import { CapstanError } from '../../common/errors.js';
import type { ClusterEvent, HistoryEntry, NodeInfo, Pod, Revision } from '../../api/cluster.js';
import { connect, type ApiClient, type ConnectionOptions } from '../api-client.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';
import { table } from '../table.js';
import { buildStatusView, statusText, type RawAnalysisRuns, type RawService, type RawWorkload, type StatusView } from '../status-view.js';
import type { SyncState } from '../../sync/index.js';
import { contractSource, sourceStatusLine, type SourceView } from '../sync-view.js';
import { contractDeployment, contractNode, contractPod, contractService, type DeploymentView } from '../views.js';

export interface CommonOptions extends ConnectionOptions {
  namespace?: string;
  output?: 'text' | 'json' | 'yaml';
}

/** KIND as typed → the API resource; short names as kubectl has them. */
const KINDS: Record<string, string> = {
  deployments: 'deployments', deployment: 'deployments', deploy: 'deployments', rollouts: 'deployments', rollout: 'deployments',
  pods: 'pods', pod: 'pods', po: 'pods',
  nodes: 'nodes', node: 'nodes', no: 'nodes',
  services: 'services', service: 'services', svc: 'services',
  revisions: 'revisions', revision: 'revisions', rev: 'revisions',
  events: 'events', event: 'events', ev: 'events',
  statefulsets: 'statefulsets', statefulset: 'statefulsets', sts: 'statefulsets',
  daemonsets: 'daemonsets', daemonset: 'daemonsets', ds: 'daemonsets',
  sources: 'sources', source: 'sources',
  configmaps: 'configmaps', configmap: 'configmaps', cm: 'configmaps',
  secrets: 'secrets', secret: 'secrets',
  cronjobs: 'cronjobs', cronjob: 'cronjobs', cj: 'cronjobs',
  all: 'all',
  persistentvolumeclaims: 'persistentvolumeclaims', persistentvolumeclaim: 'persistentvolumeclaims', pvc: 'persistentvolumeclaims',
};

export const GET_KINDS = ['all', 'deployments', 'statefulsets', 'daemonsets', 'pods', 'nodes', 'services', 'revisions', 'events', 'sources', 'persistentvolumeclaims', 'configmaps', 'secrets', 'cronjobs'];

/** Kinds listed from the desired objects (as Git has them): the API kind for each `get` name. */
const DESIRED_KINDS: Record<string, string> = { configmaps: 'ConfigMap', secrets: 'Secret', cronjobs: 'CronJob' };

/** What `get all` shows, in this order (as kubectl's `get all`: workloads, services, pods). */
const ALL_KINDS = ['deployments', 'statefulsets', 'daemonsets', 'cronjobs', 'services', 'pods'];

interface DesiredItem {
  object: { kind: string; metadata: { name: string; namespace?: string }; data?: Record<string, unknown>; binaryData?: Record<string, unknown>; stringData?: Record<string, unknown>; type?: string; immutable?: boolean; spec?: Record<string, unknown> };
  commit?: string;
  appliedAt?: string;
}

/** A ConfigMap, Secret or CronJob row: names and counts only (Secret values never reach the CLI unmasked anyway). */
interface DesiredRow {
  namespace: string;
  name: string;
  syncedCommit: string | null;
  data?: number;
  type?: string;
  immutable?: boolean;
  schedule?: string;
  suspend?: boolean;
  timeZone?: string | null;
}

function desiredRow(resource: string, d: DesiredItem): DesiredRow {
  const o = d.object;
  const keys = Object.keys({ ...(o.data ?? {}), ...(o.binaryData ?? {}), ...(o.stringData ?? {}) }).length;
  const base = { namespace: o.metadata.namespace ?? 'default', name: o.metadata.name, syncedCommit: d.commit ?? null };
  if (resource === 'cronjobs') return { ...base, schedule: String(o.spec?.schedule ?? ''), suspend: o.spec?.suspend === true, timeZone: (o.spec?.timeZone as string | undefined) ?? null };
  if (resource === 'secrets') return { ...base, type: o.type ?? 'Opaque', data: keys, immutable: o.immutable === true };
  return { ...base, data: keys, immutable: o.immutable === true };
}

/** A claim as the API serves it (the claim record the controllers keep). */
interface RawClaim {
  metadata: { name: string; namespace: string; owner?: { kind: string; name: string }; createdAt?: string; deletionRequestedAt?: string };
  spec?: { accessModes?: string[]; resources?: { requests?: { storage?: string | number } }; volumeName?: string };
  status?: { phase?: string; nodeName?: string; capacity?: { storage?: string | number } };
}

/** kubectl's short access modes. */
const ACCESS_MODE_SHORT: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };

/** One claim of `get pvc`: phase Terminating while kept for a pod that still uses it. */
export function contractClaim(c: RawClaim): { namespace: string; name: string; status: string; volume: string | null; capacity: string | null; accessModes: string[]; node: string | null; owner: string | null; createdAt: string | null } {
  const bound = c.status?.phase === 'Bound';
  const capacity = bound ? (c.status?.capacity?.storage ?? c.spec?.resources?.requests?.storage) : undefined;
  return {
    namespace: c.metadata.namespace,
    name: c.metadata.name,
    status: c.metadata.deletionRequestedAt !== undefined ? 'Terminating' : (c.status?.phase ?? 'Pending'),
    volume: c.spec?.volumeName ?? null,
    capacity: capacity === undefined ? null : String(capacity),
    accessModes: bound ? [...(c.spec?.accessModes ?? ['ReadWriteOnce'])] : [],
    node: c.status?.nodeName ?? null,
    owner: c.metadata.owner ? `${c.metadata.owner.kind}/${c.metadata.owner.name}` : null,
    createdAt: c.metadata.createdAt ?? null,
  };
}

function query(namespace?: string): string {
  return namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
}

/** Status fields of StatefulSets and DaemonSets beyond a deployment's. */
interface AppsFields {
  currentRevision?: string;
  updateRevision?: string;
  desiredNumberScheduled?: number;
  currentNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
}

async function list<T>(api: ApiClient, resource: string, namespace?: string): Promise<T[]> {
  const body = await api.get<{ items?: T[] }>(`/api/v1/${resource}${query(namespace)}`);
  return body.items ?? [];
}

async function print(io: CliIO, output: CommonOptions['output'], value: unknown, text: () => string): Promise<void> {
  if (output === 'json') io.out(`${JSON.stringify(value, null, 2)}\n`);
  else if (output === 'yaml') {
    const { stringify } = await import('yaml');
    io.out(stringify(value));
  } else io.out(text());
}

function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export async function runGet(io: CliIO, kind: string, name: string | undefined, opts: CommonOptions): Promise<void> {
  const resource = KINDS[kind.toLowerCase()];
  if (!resource) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `unknown kind "${kind}"; use one of ${GET_KINDS.join(', ')}`);
  if (resource === 'all') return runGetAll(io, name, opts);
  const api = connect(io, opts);
  const ns = opts.namespace;
  // NAME is matched exactly, as kubectl does (`get deploy web` is not `checkout-web`).
  const named = <T>(items: T[]): T[] => (name === undefined ? items : items.filter((r) => rowName(r) === name));
  let rows: unknown[];
  // -o json|yaml: the whole objects (see wholeObject); text: the rows.
  let full: unknown[] | undefined;
  const withWhole = <R, S>(raws: R[], toRow: (r: R) => S, toWhole: (r: R, row: S) => unknown): S[] => {
    const pairs = raws.map((r) => ({ row: toRow(r), raw: r })).filter((p) => name === undefined || rowName(p.row) === name);
    full = pairs.map((p) => toWhole(p.raw, p.row));
    return pairs.map((p) => p.row);
  };
  let text: () => string;
  switch (resource) {
    case 'configmaps':
    case 'secrets':
    case 'cronjobs': {
      const wantedKind = DESIRED_KINDS[resource]!;
      const items = withWhole((await list<DesiredItem>(api, 'desired', ns)).filter((d) => d.object.kind === wantedKind), (d) => desiredRow(resource, d), (d, row) => wholeObject(d.object, undefined, row));
      rows = items;
      const commit = (r: DesiredRow) => (r.syncedCommit ?? '').slice(0, 7);
      text = () =>
        resource === 'cronjobs'
          ? table(['NAMESPACE', 'NAME', 'SCHEDULE', 'SUSPEND', 'COMMIT'], items.map((r) => [r.namespace, r.name, r.schedule ?? '', String(r.suspend), commit(r)]))
          : resource === 'secrets'
            ? table(['NAMESPACE', 'NAME', 'TYPE', 'DATA', 'COMMIT'], items.map((r) => [r.namespace, r.name, r.type ?? 'Opaque', String(r.data), commit(r)]))
            : table(['NAMESPACE', 'NAME', 'DATA', 'COMMIT'], items.map((r) => [r.namespace, r.name, String(r.data), commit(r)]));
      break;
    }
    case 'deployments': {
      const items = withWhole(await list<DeploymentView>(api, 'deployments', ns), contractDeployment, joinedWhole);
      rows = items;
      text = () =>
        table(
          ['NAMESPACE', 'NAME', 'PHASE', 'REVISION', 'READY', 'UP-TO-DATE', 'STEP', 'COMMIT', 'MESSAGE'],
          items.map((d) => [d.namespace, d.name, d.phase, String(d.revision), `${d.readyReplicas}/${d.replicas}`, String(d.updatedReplicas), d.stepCount ? `${Math.min((d.step ?? 0) + 1, d.stepCount)}/${d.stepCount}` : '', (d.syncedCommit ?? '').slice(0, 7), d.message]),
        );
      break;
    }
    case 'statefulsets': {
      const items = withWhole(await list<DeploymentView & AppsFields>(api, 'statefulsets', ns), (d) => ({
        ...contractDeployment(d),
        currentRevision: d.currentRevision ?? null,
        updateRevision: d.updateRevision ?? null,
      }), joinedWhole);
      rows = items;
      text = () =>
        table(
          ['NAMESPACE', 'NAME', 'PHASE', 'READY', 'UP-TO-DATE', 'UPDATE-REVISION', 'COMMIT', 'MESSAGE'],
          items.map((d) => [d.namespace, d.name, d.phase, `${d.readyReplicas}/${d.replicas}`, String(d.updatedReplicas), d.updateRevision ?? '', (d.syncedCommit ?? '').slice(0, 7), d.message]),
        );
      break;
    }
    case 'daemonsets': {
      const items = withWhole(await list<DeploymentView & AppsFields>(api, 'daemonsets', ns), (d) => ({
        ...contractDeployment(d),
        desiredNumberScheduled: d.desiredNumberScheduled ?? 0,
        currentNumberScheduled: d.currentNumberScheduled ?? 0,
        numberReady: d.numberReady ?? 0,
        updatedNumberScheduled: d.updatedNumberScheduled ?? 0,
      }), joinedWhole);
      rows = items;
      text = () =>
        table(
          ['NAMESPACE', 'NAME', 'PHASE', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'COMMIT', 'MESSAGE'],
          items.map((d) => [d.namespace, d.name, d.phase, String(d.desiredNumberScheduled), String(d.currentNumberScheduled), String(d.numberReady), String(d.updatedNumberScheduled), (d.syncedCommit ?? '').slice(0, 7), d.message]),
        );
      break;
    }
    case 'pods': {
      const items = withWhole(await list<Pod>(api, 'pods', ns), contractPod, (p, row) => wholeObject({ apiVersion: 'v1', kind: 'Pod', metadata: p.metadata, spec: p.spec }, p.status, row));
      rows = items;
      // As kubectl's STATUS: a pod that is not ready says why (ImagePullBackOff, CrashLoopBackOff...).
      const shown = (p: (typeof items)[number]): string => (!p.ready && p.reason ? `${p.phase} (${p.reason})` : p.phase);
      text = () => table(['NAMESPACE', 'NAME', 'READY', 'PHASE', 'RESTARTS', 'AGE', 'NODE', 'REVISION'], items.map((p) => [p.namespace, p.name, p.containers, shown(p), String(p.restarts), p.createdAt ? age(p.createdAt) : '', p.node ?? '<none>', p.revision]));
      break;
    }
    case 'nodes': {
      const [nodes, pods] = await Promise.all([list<NodeInfo>(api, 'nodes'), list<Pod>(api, 'pods')]);
      const items = withWhole(nodes, (n) => contractNode(n, pods), (n, row) => {
        const { status, ...rest } = n as NodeInfo & { status?: Record<string, unknown> };
        return wholeObject({ apiVersion: 'v1', kind: 'Node', ...rest }, status, row);
      });
      rows = items;
      text = () => table(['NAME', 'READY', 'RUNTIME', 'CPU', 'MEMORY', 'PODS', 'LABELS'], items.map((n) => [n.name, `${n.ready ? 'Ready' : 'NotReady'}${n.unschedulable ? ',SchedulingDisabled' : ''}`, n.runtime, `${n.allocated.cpu}m/${n.capacity.cpu}m`, `${Math.round(n.allocated.memory / 2 ** 20)}Mi/${Math.round(n.capacity.memory / 2 ** 20)}Mi`, `${n.allocated.pods}/${n.capacity.pods}`, Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',')]));
      break;
    }
    case 'services': {
      const [services, pods] = await Promise.all([list<Record<string, unknown>>(api, 'services', ns), list<Pod>(api, 'pods', ns)]);
      const items = withWhole(services, (s) => contractService(s, pods), joinedWhole);
      rows = items;
      text = () => table(['NAMESPACE', 'NAME', 'ADDRESS', 'ENDPOINTS', 'WEIGHTS'], items.map((s) => [s.namespace, s.name, serviceAddressText(s), s.endpoints.join(',') || '<none>', Object.entries(s.weights).map(([r, w]) => `${r}=${w}`).join(',')]));
      break;
    }
    case 'revisions': {
      const items = named(await list<Revision>(api, 'revisions', ns));
      rows = items;
      text = () => table(['NAMESPACE', 'NAME', 'OWNER', 'REVISION', 'REPLICAS', 'COMMIT', 'AGE'], items.map((r) => [r.metadata.namespace, r.metadata.name, `${r.metadata.owner.kind}/${r.metadata.owner.name}`, String(r.metadata.revision), String(r.replicas), (r.metadata.commit ?? '').slice(0, 7), age(r.metadata.createdAt)]));
      break;
    }
    case 'persistentvolumeclaims': {
      const items = named((await list<RawClaim>(api, 'persistentvolumeclaims', ns)).map(contractClaim));
      rows = items;
      text = () =>
        table(
          ['NAMESPACE', 'NAME', 'STATUS', 'VOLUME', 'CAPACITY', 'ACCESS MODES', 'NODE', 'AGE'],
          items.map((c) => [c.namespace, c.name, c.status, c.volume ?? '', c.capacity ?? '', c.accessModes.map((m) => ACCESS_MODE_SHORT[m] ?? m).join(','), c.node ?? '', age(c.createdAt ?? undefined)]),
        );
      break;
    }
    case 'sources': {
      const items = named((await list<SyncState>(api, 'sources')).map(contractSource));
      rows = items;
      text = () =>
        table(
          ['NAME', 'LOCATION', 'PHASE', 'SYNCED', 'SEEN', 'ERRORS', 'AGE', 'MESSAGE'],
          items.map((s) => [s.name, `${s.location}${s.ref ? `@${s.ref}` : ''}`, s.phase, (s.syncedCommit ?? '').slice(0, 7), (s.seenCommit ?? '').slice(0, 7), String(s.errors.length), age(s.at), s.message]),
        );
      break;
    }
    default: {
      const items = named((await list<ClusterEvent>(api, 'events', ns)).sort((a, b) => a.lastSeen.localeCompare(b.lastSeen)));
      rows = items;
      text = () => table(EVENT_COLUMNS, items.map(eventRow));
    }
  }
  if (name !== undefined) {
    if (rows.length === 0) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${resource} "${name}" not found${ns ? ` in namespace ${ns}` : ''}`);
  }
  const shown = opts.output === 'json' || opts.output === 'yaml' ? (full ?? rows) : rows;
  await print(io, opts.output, name !== undefined ? shown[0] : shown, () => {
    if (shown.length === 0) return `No ${resource} found${ns ? ` in namespace ${ns}` : ''}.\n`;
    return text();
  });
}

async function findRaw(api: ApiClient, name: string, namespace: string): Promise<RawWorkload> {
  const raw = (await list<RawWorkload>(api, 'deployments', namespace)).find((i) => i.name === name);
  if (!raw) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `no deployment or rollout "${name}" in namespace ${namespace}`);
  return raw;
}

/** Everything `status` shows, read from the API in one round. */
async function readStatus(api: ApiClient, name: string, namespace: string): Promise<{ view: StatusView & { source?: SourceView }; caughtUp: boolean }> {
  const [raw, revisions, pods, services, analysis, sources] = await Promise.all([
    findRaw(api, name, namespace),
    list<Revision>(api, 'revisions', namespace),
    list<Pod>(api, 'pods', namespace),
    list<RawService>(api, 'services', namespace),
    // Older servers have no analysis route, and a workload without analysis has no record.
    api.get<RawAnalysisRuns>(`/api/v1/analysisruns/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`).catch(() => undefined),
    // Older servers do not list sources.
    list<SyncState>(api, 'sources').catch(() => [] as SyncState[]),
  ]);
  const view: StatusView & { source?: SourceView } = buildStatusView(raw, { revisions, pods, services, ...(analysis ? { analysis } : {}) });
  if (sources[0]) view.source = contractSource(sources[0]);
  // Right after a sync the controller may not have seen the new spec yet, and the status
  // still speaks of the previous revision: --wait must not take that Healthy for the answer.
  return { view, caughtUp: !raw.desiredCommit || raw.syncedCommit === raw.desiredCommit };
}

export interface StatusOptions extends CommonOptions {
  watch?: boolean;
  wait?: boolean;
  timeout?: number;
  /** Poll period for --watch / --wait (default 1 s). */
  intervalMs?: number;
}

/** The status text, with the source's line on top: a refused commit shows where you look. */
function withSource(v: StatusView & { source?: SourceView }): string {
  return v.source ? `${sourceStatusLine(v.source)}\n${statusText(v)}` : statusText(v);
}

/** `get all`: each of ALL_KINDS that has objects, one table after another (JSON: an object by kind). */
async function runGetAll(io: CliIO, name: string | undefined, opts: CommonOptions): Promise<void> {
  if (name !== undefined) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'get all takes no NAME');
  if (opts.output === 'json' || opts.output === 'yaml') {
    const out: Record<string, unknown[]> = {};
    for (const kind of ALL_KINDS) {
      let text = '';
      await runGet({ ...io, out: (t) => void (text += t) }, kind, undefined, { ...opts, output: 'json' });
      out[kind] = JSON.parse(text) as unknown[];
    }
    await print(io, opts.output, out, () => '');
    return;
  }
  const parts: string[] = [];
  for (const kind of ALL_KINDS) {
    let text = '';
    await runGet({ ...io, out: (t) => void (text += t) }, kind, undefined, opts);
    if (!text.startsWith('No ')) parts.push(`${kind}:\n${text}`);
  }
  io.out(parts.length > 0 ? parts.join('\n') : `Nothing found${opts.namespace ? ` in namespace ${opts.namespace}` : ''}.\n`);
}

/**
 * What `-o json|yaml` prints for one object: the row's fields (those docs/contract.md names)
 * and `object`, the whole object as stored (apiVersion, kind, metadata, spec; Secret values
 * masked by the server) with its status as the controllers wrote it, as `describe` gives it.
 */
function wholeObject(object: object, status: object | undefined, row: object): Record<string, unknown> {
  return { ...row, object: { ...object, ...(status ? { status } : {}) } };
}

/** Deployments, Rollouts, StatefulSets, DaemonSets and Services as the API joins them: Git's object, the status record, the file it came from. */
function joinedWhole(raw: object, row: object): Record<string, unknown> {
  const { object, source, kind: _k, namespace: _ns, name: _n, desiredCommit: _d, ...status } = raw as Record<string, unknown>;
  return { ...wholeObject((object ?? {}) as object, status, row), ...(source ? { source } : {}) };
}

function rowName(r: unknown): string | undefined {
  const row = r as { name?: string; metadata?: { name?: string } };
  return row.name ?? row.metadata?.name;
}

const EVENT_COLUMNS = ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'COUNT', 'MESSAGE'];

function eventRow(e: ClusterEvent): string[] {
  return [age(e.lastSeen), e.type, e.reason, `${e.namespace}/${e.object}`, String(e.count), e.message];
}

/**
 * `capstan events [--for KIND/NAME] [-w]`: the events, oldest first; with -w, then every new or
 * repeated event as it is recorded, until interrupted.
 */
export async function runEvents(io: CliIO, opts: CommonOptions & { watch?: boolean; for?: string; signal?: AbortSignal }): Promise<void> {
  const api = connect(io, opts);
  const wanted = (e: ClusterEvent) => opts.for === undefined || e.object === opts.for || e.object.toLowerCase() === opts.for.toLowerCase();
  const body = await api.get<{ items?: ClusterEvent[]; resourceVersion?: number }>(`/api/v1/events${query(opts.namespace)}`);
  const items = (body.items ?? []).filter(wanted).sort((a, b) => a.lastSeen.localeCompare(b.lastSeen));
  const json = opts.output === 'json';
  if (!opts.watch) {
    await print(io, opts.output, items, () => (items.length === 0 ? 'No events found.\n' : table(EVENT_COLUMNS, items.map(eventRow))));
    return;
  }
  // Watching: one line per event (JSON lines with -o json), the header once.
  if (json) for (const e of items) io.out(`${JSON.stringify(e)}\n`);
  else io.out(table(EVENT_COLUMNS, items.map(eventRow)));
  const stop = new AbortController();
  opts.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    const params = new URLSearchParams({ watch: '1', resourceVersion: String(body.resourceVersion ?? 0) });
    if (opts.namespace) params.set('namespace', opts.namespace);
    await api.watch(`/api/v1/events?${params}`, (type, data) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      const e = data as ClusterEvent;
      if (!wanted(e)) return;
      io.out(json ? `${JSON.stringify(e)}\n` : `${eventRow(e).join('   ')}\n`);
    }, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/** `capstan version`: the CLI's, and the server's from `/version` (any read role). */
export async function runVersion(io: CliIO, opts: CommonOptions & { client?: boolean }): Promise<void> {
  const { VERSION } = await import('../version.js');
  const client = { version: VERSION, node: process.version, platform: `${process.platform}/${process.arch}` };
  let server: { version?: string; node?: string; platform?: string } | undefined;
  let problem: string | undefined;
  if (!opts.client) {
    try {
      server = await connect(io, opts).get('/version');
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
  }
  await print(io, opts.output, { client, ...(server ? { server } : {}) }, () =>
    [`Client: capstan ${client.version} (node ${client.node}, ${client.platform})`, ...(server ? [`Server: capstan ${server.version} (node ${server.node}, ${server.platform})`] : [])].join('\n') + '\n',
  );
  if (problem !== undefined) {
    io.err(`capstan: no server version: ${problem}\n`);
    throw new ExitRequest(EXIT_FAILURE);
  }
}

/** Clear the screen and home the cursor: --watch on a terminal redraws in place. */
const REDRAW = '\x1b[H\x1b[2J';

export async function runStatus(io: CliIO, name: string, opts: StatusOptions): Promise<void> {
  const api = connect(io, opts);
  const namespace = opts.namespace ?? 'default';
  const render = (v: StatusView & { source?: SourceView }, compact: boolean): string => (opts.output === 'json' ? `${JSON.stringify(v, null, compact ? 0 : 2)}\n` : withSource(v));
  if (!opts.wait && !opts.watch) {
    const { view: v } = await readStatus(api, name, namespace);
    await print(io, opts.output, v, () => withSource(v));
    return;
  }
  // --wait / --watch: poll; exit codes as the contract says for --wait. --watch draws every
  // change (in place on a terminal; one JSON line per change with -o json).
  const deadline = Date.now() + (opts.timeout ?? 600) * 1000;
  const redraw = opts.watch && opts.output !== 'json' && io.interactive === true;
  let last = '';
  for (;;) {
    const { view: v, caughtUp } = await readStatus(api, name, namespace);
    const shown = render(v, true);
    if (opts.watch && shown !== last) io.out(redraw ? `${REDRAW}${shown}` : shown);
    last = shown;
    if (opts.wait && v.phase === 'Healthy' && caughtUp) {
      if (!opts.watch) io.out(render(v, false));
      return;
    }
    // Degraded, or aborted (a rollout that is aborted never becomes Healthy on its own).
    if (opts.wait && caughtUp && (v.phase === 'Degraded' || v.reason === 'RolloutAborted')) {
      if (!opts.watch) io.out(render(v, false));
      throw new ExitRequest(EXIT_FAILURE);
    }
    if (Date.now() > deadline) {
      if (!opts.wait) return;
      io.err(`capstan: timed out after ${opts.timeout ?? 600}s waiting for ${namespace}/${name} (phase ${v.phase})\n`);
      throw new ExitRequest(EXIT_FAILURE);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
  }
}

export async function runHistory(io: CliIO, name: string, opts: CommonOptions): Promise<void> {
  const api = connect(io, opts);
  const namespace = opts.namespace ?? 'default';
  const [all, revisions] = await Promise.all([
    list<HistoryEntry & { namespace?: string; name?: string; workload?: string }>(api, 'history', namespace),
    list<Revision>(api, 'revisions', namespace).catch(() => undefined),
  ]);
  // A revision whose template is no longer kept (pruned past revisionHistoryLimit, or renumbered
  // by a rollback) cannot be rolled back to by its number: history says so.
  const kept = revisions ? new Set(revisions.filter((r) => r.metadata.owner.name === name).map((r) => r.metadata.revision)) : undefined;
  const entries = all
    .filter((h) => (h.name ?? h.workload) === name || (h as { owner?: string }).owner === name)
    .sort((a, b) => a.revision - b.revision)
    .map((h) => (kept ? { ...h, kept: kept.has(h.revision) } : h));
  await print(io, opts.output, entries, () =>
    entries.length === 0
      ? `No history for ${namespace}/${name}.\n`
      : table(
          ['REVISION', 'OUTCOME', 'TRIGGER', 'COMMIT', 'AUTHOR', 'IMAGES', 'CREATED', 'MESSAGE'],
          // The author's name only: the address is in -o json.
          entries.map((h) => [`${h.revision}${'kept' in h && !h.kept ? ' (not kept)' : ''}`, h.outcome, h.trigger, (h.commit ?? '').slice(0, 7), (h.author ?? '').replace(/\s*<[^>]*>$/, ''), h.images.join(','), h.createdAt, h.message ?? '']),
        ),
  );
}

export async function runSync(io: CliIO, opts: CommonOptions & { allowMassPrune?: boolean }): Promise<void> {
  const api = connect(io, opts);
  const state = await api.post<{ phase?: string; message?: string; syncedCommit?: string }>('/api/v1/sync', { allowMassPrune: opts.allowMassPrune === true });
  await print(io, opts.output, state, () => `sync: ${state.phase ?? 'requested'}${state.syncedCommit ? ` at ${state.syncedCommit.slice(0, 12)}` : ''}${state.message ? ` — ${state.message}` : ''}\n`);
  if (state.phase && state.phase !== 'Synced') throw new ExitRequest(EXIT_FAILURE);
}

export async function runControl(io: CliIO, action: string, name: string, opts: CommonOptions & Record<string, unknown>): Promise<void> {
  const api = connect(io, opts);
  const namespace = opts.namespace ?? 'default';
  const { namespace: _ns, output: _o, server: _s, token: _t, dataDir: _d, ...body } = opts;
  const result = await api.post<{ message?: string }>(`/api/v1/deployments/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${action}`, body);
  io.out(`${action}: ${namespace}/${name}${result?.message ? ` — ${result.message}` : ''}\n`);
}

/** ADDRESS of `get services`: the router's address(es), the node ports, or None for a headless Service. */
function serviceAddressText(s: { address: string | string[]; nodePorts?: number[]; clusterIP?: 'None' }): string {
  if (s.clusterIP === 'None') return 'None (headless)';
  const address = Array.isArray(s.address) ? s.address.join(',') : s.address;
  return s.nodePorts !== undefined && s.nodePorts.length > 0 ? `${address} (node ports ${s.nodePorts.join(',')})` : address;
}
