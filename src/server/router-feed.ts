// The read feed a node's Service router follows: every Service, every traffic policy and a
// projection of every pod, across the whole cluster, for any authenticated role (agents
// included: the projection holds nothing but what routing needs — no env, no volumes, no
// Secret references; a pod's hostname and subdomain, for the node's DNS). Each item is `{ key, value }`, the store key below its prefix and the
// projected value, so an agent can present the feed to the Router as the store it reads.
// `GET /api/v1/routerfeed/{services|pods|traffic}` lists; `?watch=1` streams resumable SSE
// like every other watch (Last-Event-ID or resourceVersion, 410 when compacted).
import type { Logger } from 'pino';
import { STORE_PREFIX } from '../api/cluster.js';
import type { KV } from '../store/index.js';
import { apiError } from './http.js';
import type { ApiEvent, Resource } from './resources.js';
import type { Route, RouteContext } from './routes.js';
import { checkNotCompacted, resumePoint, streamWatch } from './watch.js';

/** One feed item: the key below the feed's store prefix and the projected value. */
export interface FeedItem {
  key: string;
  value: unknown;
}

export const ROUTER_FEED_KINDS = ['services', 'pods', 'traffic'] as const;
export type RouterFeedKind = (typeof ROUTER_FEED_KINDS)[number];

/** The store prefix each feed kind mirrors (what the Router lists and watches). */
export const ROUTER_FEED_PREFIX: Record<RouterFeedKind, string> = {
  services: `${STORE_PREFIX.desired}Service/`,
  pods: STORE_PREFIX.pods,
  traffic: STORE_PREFIX.traffic,
};

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const strings = (v: unknown): Record<string, string> | undefined => {
  const o = obj(v);
  if (o === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(o)) if (typeof s === 'string') out[k] = s;
  return out;
};
const pick = (from: Json | undefined, keys: string[]): Json => {
  const out: Json = {};
  if (from === undefined) return out;
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
};

/**
 * What a router needs of a pod: metadata name, namespace, labels (the revision hash labels
 * among them), owner and deletion mark; spec.nodeName, spec.hostname and spec.subdomain (a
 * node's DNS answers `<hostname>.<subdomain>.<ns>.svc.<domain>` from them) and each
 * container's name and ports; status phase, ready, conditions, hostIP and the host ports.
 * Nothing else is copied.
 */
export function projectPod(pod: unknown): Json | undefined {
  const p = obj(pod);
  const metadata = obj(p?.metadata);
  if (p === undefined || metadata === undefined) return undefined;
  const spec = obj(p.spec);
  const status = obj(p.status);
  const owner = obj(metadata.owner);
  const containers = Array.isArray(spec?.containers) ? spec.containers : [];
  return {
    metadata: {
      ...pick(metadata, ['name', 'namespace', 'createdAt', 'deletionRequestedAt']),
      labels: strings(metadata.labels) ?? {},
      ...(owner !== undefined ? { owner: pick(owner, ['kind', 'name', 'revision']) } : {}),
    },
    spec: {
      ...pick(spec, ['nodeName', 'hostname', 'subdomain']),
      containers: containers.map((c) => {
        const container = obj(c);
        const ports = Array.isArray(container?.ports) ? container.ports : [];
        return {
          ...pick(container, ['name']),
          ports: ports.map((port) => pick(obj(port), ['name', 'containerPort', 'protocol', 'hostPort'])),
        };
      }),
    },
    ...(status !== undefined ? { status: pick(status, ['phase', 'ready', 'conditions', 'hostIP', 'ports']) } : {}),
  };
}

/** A Service as the router sees it: kind, name, namespace, labels, annotations and spec (never the source file). */
export function projectService(record: unknown): Json | undefined {
  const r = obj(record);
  const o = obj(r?.object) ?? (typeof r?.kind === 'string' ? r : undefined);
  const metadata = obj(o?.metadata);
  if (o === undefined || metadata === undefined) return undefined;
  return { object: { ...pick(o, ['apiVersion', 'kind', 'spec']), metadata: pick(metadata, ['name', 'namespace', 'labels', 'annotations']) } };
}

/** A traffic policy: weights, header and mirror routes, stable and canary revision. */
export function projectPolicy(policy: unknown): Json | undefined {
  const p = obj(policy);
  return p === undefined ? undefined : pick(p, ['weights', 'headerRoutes', 'mirrorRoutes', 'stableRevision', 'canaryRevision']);
}

const PROJECT: Record<RouterFeedKind, (v: unknown) => Json | undefined> = { services: projectService, pods: projectPod, traffic: projectPolicy };

function decode(value: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(value).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The feed of one kind as a Resource, so the API's list and SSE watch machinery serve it. */
export function routerFeedResource(kind: RouterFeedKind): Resource {
  const prefix = ROUTER_FEED_PREFIX[kind];
  const project = PROJECT[kind];
  const item = (key: string, value: Uint8Array): FeedItem | undefined => {
    const v = decode(value);
    const projected = v === undefined ? undefined : project(v);
    return projected === undefined ? undefined : { key: key.slice(prefix.length), value: projected };
  };
  return {
    name: `routerfeed/${kind}`,
    watchPrefix: prefix,
    getSegments: 0,
    async list(kv, revision) {
      const r = await kv.range(prefix, { prefix: true, revision });
      return r.kvs.map((k) => item(k.key, k.value)).filter((i): i is FeedItem => i !== undefined);
    },
    async get() {
      return undefined;
    },
    async event(_kv, e): Promise<ApiEvent | undefined> {
      if (e.type === 'delete') {
        // The key is enough to forget it; the previous value is not needed.
        return { type: 'DELETED', object: { key: e.kv.key.slice(prefix.length), value: null } };
      }
      const it = item(e.kv.key, e.kv.value);
      return it === undefined ? undefined : { type: e.kv.version === 1 ? 'ADDED' : 'MODIFIED', object: it };
    },
    namespaceOf: () => undefined,
  };
}

export interface RouterFeedOptions {
  kv: KV;
  logger: Logger;
  heartbeatMs: number;
  /** Aborted when the server shuts down. */
  signal: AbortSignal;
  /** Tracks a watch stream so the server's close waits for it. */
  track: (stream: Promise<void>) => Promise<void>;
}

/** `GET /api/v1/routerfeed/:kind` for every authenticated role. */
export function routerFeedRoutes(options: RouterFeedOptions): Route[] {
  const feeds = new Map(ROUTER_FEED_KINDS.map((k) => [k, routerFeedResource(k)] as const));
  const handler = async (ctx: RouteContext): Promise<unknown> => {
    const kind = ctx.params.kind as RouterFeedKind;
    const r = feeds.get(kind);
    if (r === undefined) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no router feed ${JSON.stringify(ctx.params.kind)}; use one of ${ROUTER_FEED_KINDS.join(', ')}`);
    const watch = ctx.query.get('watch');
    if (watch === '1' || watch === 'true') {
      const after = resumePoint(ctx.req, ctx.query);
      if (after !== undefined) await checkNotCompacted(options.kv, r, after);
      await options.track(streamWatch(ctx.req, ctx.res, { kv: options.kv, resource: r, after, keep: () => true, heartbeatMs: options.heartbeatMs, logger: options.logger, signal: options.signal }));
      return undefined;
    }
    const revision = await options.kv.revision();
    return { kind: 'List', resource: r.name, resourceVersion: revision, items: await r.list(options.kv, revision, undefined) };
  };
  return [{ method: 'GET', pattern: '/api/v1/routerfeed/:kind', access: 'any', handler }];
}
