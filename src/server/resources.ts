// What the API serves, and how each resource maps onto store keys. Simple resources are one
// prefix of JSON values. `deployments` and `services` join the desired object (from Git)
// with the status the controllers write, so they read and watch two prefixes.
import { STORE_PREFIX, type Pod } from '../api/cluster.js';
import type { ManifestObject, SourcedObject } from '../api/index.js';
import type { KV, KeyValue, WatchEvent } from '../store/index.js';
import { CLAIMS_PREFIX } from '../controllers/index.js';

export type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ApiEvent {
  type: WatchType;
  object: unknown;
}

export interface Resource {
  name: string;
  /** Prefix a watch covers (the events are filtered by `event`). */
  watchPrefix: string;
  /** Path segments after `/api/v1/<name>/` that name one object. */
  getSegments: number;
  list(kv: KV, revision: number, namespace: string | undefined): Promise<unknown[]>;
  get(kv: KV, segments: string[]): Promise<unknown | undefined>;
  /** The API event for a store event, if the resource cares; `revision` is the batch's. */
  event(kv: KV, e: WatchEvent, revision: number): Promise<ApiEvent | undefined>;
  namespaceOf(item: unknown): string | undefined;
  /**
   * The event depends on the store event alone (no other reads): watchers of the resource may
   * share one decoded event, and one encoded frame, per store event.
   */
  pure?: boolean;
}

function decode(value: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(value).toString('utf8')) as unknown;
  } catch {
    return undefined; // a value that is not JSON is not served
  }
}

function field(item: unknown, ...path: string[]): unknown {
  let v: unknown = item;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function changeType(e: WatchEvent): WatchType {
  if (e.type === 'delete') return 'DELETED';
  return e.kv.version === 1 ? 'ADDED' : 'MODIFIED';
}

/** A prefix of JSON objects keyed `<prefix><namespace>/<…>` (or `<prefix><name>` when not namespaced). */
function simpleResource(
  name: string,
  prefix: string,
  getSegments: number,
  namespaceOf: (item: unknown) => string | undefined,
  namespaced: boolean,
): Resource {
  return {
    name,
    watchPrefix: prefix,
    getSegments,
    async list(kv, revision, namespace) {
      const scope = namespaced && namespace !== undefined ? `${prefix}${namespace}/` : prefix;
      const r = await kv.range(scope, { prefix: true, revision });
      const items: unknown[] = [];
      for (const item of r.kvs) {
        const v = decode(item.value);
        if (v !== undefined && (namespace === undefined || namespaced || namespaceOf(v) === namespace)) items.push(v);
      }
      return items;
    },
    async get(kv, segments) {
      const item = await kv.get(prefix + segments.join('/'));
      return item ? decode(item.value) : undefined;
    },
    async event(_kv, e) {
      const source = e.type === 'delete' ? e.prevKv : e.kv;
      if (!source) return undefined;
      const object = decode(source.value);
      return object === undefined ? undefined : { type: changeType(e), object };
    },
    namespaceOf,
    pure: true,
  };
}

/** A desired record is a SourcedObject; a bare manifest is accepted too. */
export function parseDesired(value: Uint8Array): SourcedObject | undefined {
  const v = decode(value);
  if (typeof v !== 'object' || v === null) return undefined;
  if (typeof field(v, 'object', 'kind') === 'string') return v as SourcedObject;
  if (typeof field(v, 'kind') === 'string' && typeof field(v, 'metadata') === 'object') {
    return { object: v as ManifestObject, source: { file: '', index: 0, line: 0, column: 0 } };
  }
  return undefined;
}

/** A desired object joined with its controller-written status, flattened as `get` prints it. */
type ViewBuilder = (desired: SourcedObject, status: Record<string, unknown> | undefined) => Record<string, unknown>;

const deploymentView: ViewBuilder = (desired, status) => {
  const o = desired.object;
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  return {
    kind: o.kind,
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    phase: 'Progressing',
    revision: 0,
    replicas: typeof spec.replicas === 'number' ? spec.replicas : 1,
    readyReplicas: 0,
    updatedReplicas: 0,
    syncedCommit: null,
    message: '',
    ...(status ?? {}),
    // The commit of the spec in the store: a status whose syncedCommit differs has not yet
    // caught up with the latest sync (what `capstan status --wait` waits for).
    desiredCommit: (desired as { commit?: string }).commit ?? null,
    object: o,
    source: desired.source,
  };
};

const serviceView: ViewBuilder = (desired, status) => ({
  namespace: desired.object.metadata.namespace,
  name: desired.object.metadata.name,
  address: null,
  endpoints: [],
  weights: {},
  ...(status ?? {}),
  object: desired.object,
  source: desired.source,
});

function joinedResource(name: string, kinds: string[], view: ViewBuilder): Resource {
  const desiredKey = (kind: string, ns: string, n: string): string => `${STORE_PREFIX.desired}${kind}/${ns}/${n}`;
  const statusKey = (kind: string, ns: string, n: string): string => `${STORE_PREFIX.status}${kind}/${ns}/${n}`;

  /** kind, namespace and name from a desired or status key of one of our kinds. */
  function parse(key: string): { area: 'desired' | 'status'; kind: string; ns: string; name: string } | undefined {
    const area = key.startsWith(STORE_PREFIX.desired) ? 'desired' : key.startsWith(STORE_PREFIX.status) ? 'status' : undefined;
    if (!area) return undefined;
    const parts = key.slice(STORE_PREFIX[area].length).split('/');
    if (parts.length !== 3 || !kinds.includes(parts[0]!)) return undefined;
    return { area, kind: parts[0]!, ns: parts[1]!, name: parts[2]! };
  }

  async function statusAt(kv: KV, key: string, revision?: number): Promise<Record<string, unknown> | undefined> {
    let item: KeyValue | undefined;
    try {
      item = await kv.get(key, revision ? { revision } : {});
    } catch {
      item = await kv.get(key); // compacted meanwhile: the newest status is still right
    }
    const v = item ? decode(item.value) : undefined;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  }

  return {
    name,
    watchPrefix: '/capstan/',
    getSegments: 2,
    async list(kv, revision, namespace) {
      const items: unknown[] = [];
      for (const kind of kinds) {
        const scope = `${STORE_PREFIX.desired}${kind}/${namespace !== undefined ? `${namespace}/` : ''}`;
        const [desired, statuses] = await Promise.all([
          kv.range(scope, { prefix: true, revision }),
          kv.range(`${STORE_PREFIX.status}${kind}/`, { prefix: true, revision }),
        ]);
        const byKey = new Map(statuses.kvs.map((s) => [s.key.slice(STORE_PREFIX.status.length), s.value]));
        for (const d of desired.kvs) {
          const obj = parseDesired(d.value);
          if (!obj) continue;
          const raw = byKey.get(d.key.slice(STORE_PREFIX.desired.length));
          const status = raw ? decode(raw) : undefined;
          items.push(view(obj, typeof status === 'object' && status !== null ? (status as Record<string, unknown>) : undefined));
        }
      }
      return items;
    },
    async get(kv, [ns, n]) {
      for (const kind of kinds) {
        const d = await kv.get(desiredKey(kind, ns!, n!));
        const obj = d ? parseDesired(d.value) : undefined;
        if (obj) return view(obj, await statusAt(kv, statusKey(kind, ns!, n!)));
      }
      return undefined;
    },
    async event(kv, e, revision) {
      const k = parse(e.kv.key);
      if (!k) return undefined;
      if (k.area === 'desired') {
        if (e.type === 'delete') {
          const prev = e.prevKv ? parseDesired(e.prevKv.value) : undefined;
          return prev ? { type: 'DELETED', object: view(prev, undefined) } : undefined;
        }
        const obj = parseDesired(e.kv.value);
        if (!obj) return undefined;
        return { type: changeType(e), object: view(obj, await statusAt(kv, statusKey(k.kind, k.ns, k.name), revision)) };
      }
      // A status change is a change of the joined object, if the desired object exists.
      let d: KeyValue | undefined;
      try {
        d = await kv.get(desiredKey(k.kind, k.ns, k.name), { revision });
      } catch {
        d = await kv.get(desiredKey(k.kind, k.ns, k.name));
      }
      const obj = d ? parseDesired(d.value) : undefined;
      if (!obj) return undefined;
      const status = e.type === 'delete' ? undefined : decode(e.kv.value);
      return {
        type: 'MODIFIED',
        object: view(obj, typeof status === 'object' && status !== null ? (status as Record<string, unknown>) : undefined),
      };
    },
    namespaceOf: (item) => str(field(item, 'namespace')),
  };
}

const desiredResource: Resource = {
  name: 'desired',
  watchPrefix: STORE_PREFIX.desired,
  getSegments: 3,
  async list(kv, revision, namespace) {
    const r = await kv.range(STORE_PREFIX.desired, { prefix: true, revision });
    const items: SourcedObject[] = [];
    for (const item of r.kvs) {
      const obj = parseDesired(item.value);
      if (obj && (namespace === undefined || obj.object.metadata.namespace === namespace)) items.push(obj);
    }
    return items;
  },
  async get(kv, segments) {
    const item = await kv.get(STORE_PREFIX.desired + segments.join('/'));
    return item ? parseDesired(item.value) : undefined;
  },
  async event(_kv, e) {
    const source = e.type === 'delete' ? e.prevKv : e.kv;
    const obj = source ? parseDesired(source.value) : undefined;
    return obj ? { type: changeType(e), object: obj } : undefined;
  },
  namespaceOf: (item) => str(field(item, 'object', 'metadata', 'namespace')),
};

/** Every resource the API serves, by URL name. */
export function resources(): Map<string, Resource> {
  const list: Resource[] = [
    joinedResource('deployments', ['Deployment', 'Rollout'], deploymentView),
    joinedResource('services', ['Service'], serviceView),
    // Status fields (currentRevision, desiredNumberScheduled...) come from each controller's status record.
    joinedResource('statefulsets', ['StatefulSet'], deploymentView),
    joinedResource('daemonsets', ['DaemonSet'], deploymentView),
    simpleResource('pods', STORE_PREFIX.pods, 2, (p) => str(field(p, 'metadata', 'namespace')), true),
    simpleResource('nodes', STORE_PREFIX.nodes, 1, () => undefined, false),
    simpleResource('revisions', STORE_PREFIX.revisions, 3, (r) => str(field(r, 'namespace')) ?? str(field(r, 'metadata', 'namespace')), true),
    simpleResource('history', STORE_PREFIX.history, 3, (h) => str(field(h, 'namespace')), true),
    simpleResource('events', STORE_PREFIX.events, 2, (e) => str(field(e, 'namespace')), true),
    // The sync state of each source: last synced and last seen commit, and why a commit was refused.
    simpleResource('sources', STORE_PREFIX.sync, 1, () => undefined, false),
    // PersistentVolumeClaims: from Git and from StatefulSet volumeClaimTemplates, with where each is bound.
    simpleResource('persistentvolumeclaims', CLAIMS_PREFIX, 2, (c) => str(field(c, 'metadata', 'namespace')), true),
    desiredResource,
  ];
  return new Map(list.map((r) => [r.name, r]));
}

/** The node a pod is bound to (for agents, which see only their own pods). */
export function podNode(item: unknown): string | undefined {
  return (item as Partial<Pod> | undefined)?.spec?.nodeName;
}
