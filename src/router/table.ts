// The pure core of the router: from a Service, the pods it selects and a traffic policy, a
// routing table per Service port; and a picker that chooses a backend for one request.
// Picking order: header/cookie route first, then smooth weighted round-robin across revisions
// by weight (exact per window of `total` picks, not replica ratio), then plain round-robin
// across that revision's endpoints.
import type { Pod, TrafficMirrorRoute, TrafficPolicy, TrafficStringMatch } from '../api/cluster.js';
import type { Service, ServicePort } from '../api/index.js';
import { SmoothWeightedRoundRobin } from '../rollout/index.js';

export type PortProtocol = 'http' | 'tcp';

/** One ready backend of one Service port. */
export interface Endpoint {
  /** `host:port`: also the key of the backend's connection pool. */
  id: string;
  host: string;
  port: number;
  pod: string;
  revision: string;
}

export interface CompiledMatch {
  name: string;
  test: (value: string) => boolean;
}

export interface CompiledRoute {
  name: string;
  header?: CompiledMatch;
  cookie?: CompiledMatch;
  revision: string;
}

/** One `match` entry of a mirror route: every test set must pass. */
export interface CompiledMirrorMatch {
  method?: (v: string) => boolean;
  path?: (v: string) => boolean;
  /** Lowercase header name → test; a missing header fails. */
  headers: CompiledMatch[];
}

export interface CompiledMirror {
  name: string;
  /** 0..100: share of matching requests copied. */
  percentage: number;
  match: CompiledMirrorMatch[];
  revision: string;
}

export interface PortTable {
  namespace: string;
  service: string;
  /** The Service port number (what the listener serves, unless mapped). */
  port: number;
  portName?: string;
  protocol: PortProtocol;
  /** Ready endpoints grouped by revision hash; every group is non-empty. */
  backends: Record<string, Endpoint[]>;
  /** Percent per revision, summing to 100 (empty when there is no backend). */
  weights: Record<string, number>;
  /** Raw weights the picker uses (integers; any scale). */
  pickWeights: Record<string, number>;
  routes: CompiledRoute[];
  /** Mirror routes: matching requests are also copied to a revision. */
  mirrors: CompiledMirror[];
  /** Stable text of everything above, to tell whether a rebuild changed anything. */
  signature: string;
}

/** A Service as the router sees it (the desired object, or enough of it). */
export type RouterService = Pick<Service, 'metadata' | 'spec'>;

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  // A Service without a selector has no automatic endpoints (as in Kubernetes).
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Ready, not terminating, running: the pods that may take new traffic. */
export function podServes(pod: Pod): boolean {
  return pod.status.ready && pod.status.phase === 'Running' && pod.metadata.deletionRequestedAt === undefined;
}

/**
 * The host port a pod exposes for a Service's targetPort. `status.ports` is keyed by the
 * container port's name when it has one, else its number, so both spellings are looked up.
 */
export function hostPortFor(pod: Pod, target: number | string): number | undefined {
  const ports = pod.status.ports ?? {};
  const direct = ports[String(target)];
  if (direct !== undefined) return direct;
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if (typeof target === 'number' && p.containerPort === target && p.name !== undefined && ports[p.name] !== undefined) return ports[p.name];
      if (typeof target === 'string' && p.name === target && ports[String(p.containerPort)] !== undefined) return ports[String(p.containerPort)];
    }
  }
  return undefined;
}

/** tcp when the port says so (`appProtocol`, a `tcp` name, or a lowercase `protocol: tcp` hint). */
export function portProtocol(port: ServicePort): PortProtocol {
  const extra = port as Omit<ServicePort, 'protocol'> & { appProtocol?: string; protocol?: string };
  const hint = (extra.appProtocol ?? '').toLowerCase();
  if (hint === 'tcp') return 'tcp';
  if (hint === 'http' || hint === 'http1' || hint === 'kubernetes.io/http') return 'http';
  if (extra.protocol === 'tcp') return 'tcp';
  const name = (port.name ?? '').toLowerCase();
  if (name === 'tcp' || name.startsWith('tcp-')) return 'tcp';
  return 'http';
}

function compileMatch(m: TrafficStringMatch): CompiledMatch {
  if (m.exact !== undefined) {
    const want = m.exact;
    return { name: m.name, test: (v) => v === want };
  }
  if (m.prefix !== undefined) {
    const want = m.prefix;
    return { name: m.name, test: (v) => v.startsWith(want) };
  }
  if (m.regex !== undefined) {
    // Anchored, as Argo's header route regex is a full match.
    const re = new RegExp(`^(?:${m.regex})$`);
    return { name: m.name, test: (v) => re.test(v) };
  }
  // A match that names only the header: present with any value.
  return { name: m.name, test: () => true };
}

/** Routes from a policy; a route with an invalid regex is skipped and reported. */
export function compileRoutes(policy: TrafficPolicy | undefined, onInvalid?: (route: string, err: unknown) => void): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const r of policy?.headerRoutes ?? []) {
    if (r.match.header === undefined && r.match.cookie === undefined) continue;
    try {
      out.push({
        name: r.name,
        revision: r.revision,
        header: r.match.header === undefined ? undefined : compileMatch({ ...r.match.header, name: r.match.header.name.toLowerCase() }),
        cookie: r.match.cookie === undefined ? undefined : compileMatch(r.match.cookie),
      });
    } catch (err) {
      onInvalid?.(r.name, err);
    }
  }
  return out;
}

function compileMirror(r: TrafficMirrorRoute): CompiledMirror {
  const match = r.match.map((m): CompiledMirrorMatch => ({
    ...(m.method ? { method: compileMatch({ name: '', ...m.method }).test } : {}),
    ...(m.path ? { path: compileMatch({ name: '', ...m.path }).test } : {}),
    headers: Object.entries(m.headers ?? {}).map(([name, t]) => compileMatch({ ...t, name: name.toLowerCase() })),
  }));
  const p = r.percentage ?? 100;
  return { name: r.name, percentage: Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 100, match, revision: r.revision };
}

/** Mirror routes from a policy; a route with an invalid regex is skipped and reported. */
export function compileMirrors(policy: TrafficPolicy | undefined, onInvalid?: (route: string, err: unknown) => void): CompiledMirror[] {
  const out: CompiledMirror[] = [];
  for (const r of policy?.mirrorRoutes ?? []) {
    if (r.match.length === 0) continue;
    try {
      out.push(compileMirror(r));
    } catch (err) {
      onInvalid?.(r.name, err);
    }
  }
  return out;
}

function headerText(headers: RequestHeaders, name: string): string | undefined {
  const raw = headers[name];
  return Array.isArray(raw) ? raw.join(', ') : raw;
}

/** Whether one mirror match entry takes a request (`path` without its query string). */
export function mirrorMatches(m: CompiledMirrorMatch, method: string, path: string, headers: RequestHeaders): boolean {
  if (m.method && !m.method(method)) return false;
  if (m.path && !m.path(path)) return false;
  for (const h of m.headers) {
    const v = headerText(headers, h.name);
    if (v === undefined || !h.test(v)) return false;
  }
  return true;
}

/** Integer percentages summing to 100 (largest remainder), for display. */
export function toPercent(raw: Record<string, number>): Record<string, number> {
  const keys = Object.keys(raw).filter((k) => raw[k] > 0).sort();
  const total = keys.reduce((a, k) => a + raw[k], 0);
  if (total <= 0) return {};
  const exact = keys.map((k) => (raw[k] * 100) / total);
  const floor = exact.map(Math.floor);
  let left = 100 - floor.reduce((a, b) => a + b, 0);
  const order = keys.map((_, i) => i).sort((a, b) => exact[b] - floor[b] - (exact[a] - floor[a]) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    floor[i]++;
    left--;
  }
  const out: Record<string, number> = {};
  keys.forEach((k, i) => (out[k] = floor[i]));
  return out;
}

/**
 * Weights the picker uses. With a policy: its weights for revisions that have ready
 * endpoints (a weighted revision with none gives its share to the others, rather than
 * failing requests). Without one, or when no weighted revision has endpoints: by
 * ready-endpoint count (so a single revision takes everything).
 */
export function pickWeights(backends: Record<string, Endpoint[]>, policy: TrafficPolicy | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (policy !== undefined) {
    for (const [rev, w] of Object.entries(policy.weights)) {
      if (backends[rev] !== undefined && Number.isFinite(w) && w > 0) out[rev] = w;
    }
    if (Object.keys(out).length > 0) return out;
  }
  for (const [rev, eps] of Object.entries(backends)) out[rev] = eps.length;
  return out;
}

/** The routing table of every port of a Service. Pods may be any; only serving, selected ones count. */
export function buildTables(
  service: RouterService,
  pods: Iterable<Pod>,
  policy: TrafficPolicy | undefined,
  onInvalidRoute?: (route: string, err: unknown) => void,
): PortTable[] {
  const namespace = service.metadata.namespace ?? 'default';
  const selected: Pod[] = [];
  for (const pod of pods) {
    if (pod.metadata.namespace === namespace && podServes(pod) && selects(service.spec.selector, pod.metadata.labels)) selected.push(pod);
  }
  selected.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const routes = compileRoutes(policy, onInvalidRoute);
  const mirrors = compileMirrors(policy, onInvalidRoute);
  return service.spec.ports.map((sp) => {
    const target = sp.targetPort ?? sp.port;
    const backends: Record<string, Endpoint[]> = {};
    for (const pod of selected) {
      const port = hostPortFor(pod, target);
      if (port === undefined) continue;
      const host = pod.status.hostIP ?? '127.0.0.1';
      const revision = pod.metadata.owner.revision;
      (backends[revision] ??= []).push({ id: `${host}:${port}`, host, port, pod: pod.metadata.name, revision });
    }
    const raw = pickWeights(backends, policy);
    const routeSig = [...(policy?.headerRoutes ?? []), ...(policy?.mirrorRoutes ?? [])].map((r) => JSON.stringify(r));
    const table: Omit<PortTable, 'signature'> = {
      namespace,
      service: service.metadata.name,
      port: sp.port,
      portName: sp.name,
      protocol: portProtocol(sp),
      backends,
      weights: toPercent(raw),
      pickWeights: raw,
      routes,
      mirrors,
    };
    const signature = JSON.stringify([sp, backends, raw, routeSig]);
    return { ...table, signature };
  });
}

/** Value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Chooses a backend per request from one port table. Stateful (round-robin positions). */
export class Picker {
  readonly table: PortTable;
  private readonly swrr: SmoothWeightedRoundRobin<string>;
  private readonly next = new Map<string, number>();
  /** Per mirror route: accumulated percentage, a copy is sent each time it reaches 100. */
  private readonly sampled = new Map<string, number>();

  constructor(table: PortTable) {
    this.table = table;
    this.swrr = new SmoothWeightedRoundRobin(Object.entries(table.pickWeights).map(([item, weight]) => ({ item, weight })));
  }

  /** The revision a header/cookie route sends these headers to, if any route matches. */
  routeFor(headers: RequestHeaders): string | undefined {
    for (const r of this.table.routes) {
      if (r.header !== undefined) {
        const raw = headers[r.header.name];
        const v = Array.isArray(raw) ? raw.join(', ') : raw;
        if (v === undefined || !r.header.test(v)) continue;
      }
      if (r.cookie !== undefined) {
        const raw = headers.cookie;
        const v = cookieValue(Array.isArray(raw) ? raw.join('; ') : raw, r.cookie.name);
        if (v === undefined || !r.cookie.test(v)) continue;
      }
      return r.revision;
    }
    return undefined;
  }

  /** The revision for the next request (header route, else weighted). */
  pickRevision(headers: RequestHeaders = {}): string | undefined {
    const routed = this.table.routes.length > 0 ? this.routeFor(headers) : undefined;
    if (routed !== undefined) return routed;
    return this.swrr.pick();
  }

  /** The backend for the next request, or undefined when the chosen revision has none. */
  pick(headers: RequestHeaders = {}): Endpoint | undefined {
    const revision = this.pickRevision(headers);
    if (revision === undefined) return undefined;
    const eps = this.table.backends[revision];
    // A header route to a revision with no ready endpoint falls back to the weighted split.
    if (eps === undefined) {
      const fallback = this.swrr.pick();
      return fallback === undefined ? undefined : this.endpointOf(fallback);
    }
    return this.endpointOf(revision);
  }

  /** The revision for the next request that has endpoints: a header route's, else the weighted pick. */
  chooseRevision(headers: RequestHeaders = {}): string | undefined {
    const revision = this.pickRevision(headers);
    if (revision === undefined || this.table.backends[revision] !== undefined) return revision;
    return this.swrr.pick();
  }

  /**
   * The next endpoint of `revision` in round-robin order that is neither in `tried` nor
   * `ejected`; when every untried one is ejected, the next untried one anyway (a revision whose
   * endpoints all failed lately is still tried, not refused). Undefined once all were tried.
   */
  endpointAvoiding(revision: string, tried: readonly Endpoint[] | undefined, ejections: { ejected(id: string): boolean }): Endpoint | undefined {
    const eps = this.table.backends[revision];
    if (eps === undefined || eps.length === 0) return undefined;
    const start = this.next.get(revision) ?? 0;
    let fallback = -1;
    for (let step = 0; step < eps.length; step++) {
      const i = (start + step) % eps.length;
      const e = eps[i];
      if (tried !== undefined && tried.includes(e)) continue;
      if (ejections.ejected(e.id)) {
        if (fallback < 0) fallback = i;
        continue;
      }
      this.next.set(revision, (i + 1) % eps.length);
      return e;
    }
    if (fallback < 0) return undefined;
    this.next.set(revision, (fallback + 1) % eps.length);
    return eps[fallback];
  }

  /**
   * The backend a copy of this request goes to: the first mirror route with a matching entry,
   * sampled to its percentage (evenly spread: 25 copies one request in four). Undefined: no copy.
   */
  mirrorFor(method: string, url: string, headers: RequestHeaders): Endpoint | undefined {
    if (this.table.mirrors.length === 0) return undefined;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    for (const r of this.table.mirrors) {
      if (!r.match.some((m) => mirrorMatches(m, method, path, headers))) continue;
      const acc = (this.sampled.get(r.name) ?? 0) + r.percentage;
      if (acc < 100) {
        this.sampled.set(r.name, acc);
        return undefined;
      }
      this.sampled.set(r.name, acc - 100);
      return this.endpointOf(r.revision);
    }
    return undefined;
  }

  private endpointOf(revision: string): Endpoint | undefined {
    const eps = this.table.backends[revision];
    if (eps === undefined || eps.length === 0) return undefined;
    const i = this.next.get(revision) ?? 0;
    this.next.set(revision, (i + 1) % eps.length);
    return eps[i % eps.length];
  }
}
