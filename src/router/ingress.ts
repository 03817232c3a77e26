// The pure core of the Ingress listener: every Ingress's rules merged into one table that
// maps (Host, path) to a Service port, with Kubernetes' matching rules.
//
// Host: an exact host beats a wildcard (`*.example.com` matches exactly one more label), which
// beats rules without a host. Within the chosen host, the longest matching path wins; at equal
// length Exact beats Prefix. Prefix matches element-wise: `/foo` matches `/foo`, `/foo/` and
// `/foo/bar`, not `/foobar`. ImplementationSpecific is Prefix. No path matches: the default
// backend (the first Ingress, by namespace/name, that has one), else 404.
import type { Ingress, IngressBackend, IngressTLS } from '../api/index.js';

/** A Service port an Ingress path points at. */
export interface IngressTarget {
  namespace: string;
  service: string;
  /** The Service port's number or name, as the Ingress gives it. */
  port: number | string;
  /** `<namespace>/<name>` of the Ingress. */
  ingress: string;
}

interface CompiledPath {
  exact: boolean;
  /** Exact: the path itself. Prefix: the path without trailing slashes ('' for `/`). */
  path: string;
  target: IngressTarget;
}

/** Paths of one host, longest first. */
type HostPaths = CompiledPath[];

export interface IngressTableInput {
  /** Desired Ingresses; each carries its namespace in metadata. */
  ingresses: Iterable<Pick<Ingress, 'metadata' | 'spec'>>;
}

function targetOf(namespace: string, ingress: string, b: IngressBackend): IngressTarget {
  const port = b.service.port.number ?? b.service.port.name ?? 80;
  return { namespace, service: b.service.name, port, ingress };
}

function trimSlashes(p: string): string {
  let end = p.length;
  while (end > 0 && p[end - 1] === '/') end--;
  return p.slice(0, end);
}

/** Whether a Prefix path (trailing slashes removed) matches a request path, element by element. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path[prefix.length] === '/';
}

/** The Host header's host: lowercase, without port or a trailing dot. */
export function requestHost(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Whether `*.example.com` (or an exact host) matches a request host, as Kubernetes does. */
export function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  if (!host.endsWith(suffix)) return false;
  const first = host.slice(0, host.length - suffix.length);
  return first.length > 0 && !first.includes('.');
}

function byLength(a: CompiledPath, b: CompiledPath): number {
  return b.path.length - a.path.length || Number(b.exact) - Number(a.exact);
}

export class IngressTable {
  private readonly exactHosts = new Map<string, HostPaths>();
  private readonly wildcardHosts = new Map<string, HostPaths>();
  private readonly anyHost: HostPaths = [];
  private readonly fallback: IngressTarget | undefined;
  /** Every Service port some Ingress points at. */
  readonly targets: IngressTarget[] = [];

  constructor(input: IngressTableInput) {
    const list = [...input.ingresses].sort((a, b) => key(a).localeCompare(key(b)));
    let fallback: IngressTarget | undefined;
    for (const ing of list) {
      const ns = ing.metadata.namespace ?? 'default';
      const id = key(ing);
      if (ing.spec.defaultBackend?.service !== undefined) {
        const t = targetOf(ns, id, ing.spec.defaultBackend);
        this.targets.push(t);
        fallback ??= t;
      }
      for (const rule of ing.spec.rules ?? []) {
        const host = rule.host?.toLowerCase();
        const bucket = host === undefined ? this.anyHost : this.bucket(host.startsWith('*.') ? this.wildcardHosts : this.exactHosts, host);
        for (const p of rule.http?.paths ?? []) {
          if (p.backend?.service === undefined) continue;
          const target = targetOf(ns, id, p.backend);
          this.targets.push(target);
          const exact = p.pathType === 'Exact';
          const raw = p.path ?? '/';
          bucket.push({ exact, path: exact ? raw : trimSlashes(raw), target });
        }
      }
    }
    this.fallback = fallback;
    for (const paths of [...this.exactHosts.values(), ...this.wildcardHosts.values(), this.anyHost]) paths.sort(byLength);
  }

  private bucket(map: Map<string, HostPaths>, host: string): HostPaths {
    let b = map.get(host);
    if (b === undefined) map.set(host, (b = []));
    return b;
  }

  /** The Service port for a request, or undefined (404). `url` may carry a query string. */
  match(hostHeader: string | undefined, url: string): IngressTarget | undefined {
    const host = requestHost(hostHeader);
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const paths = this.pathsFor(host);
    for (const p of paths) {
      if (p.exact ? p.path === path : prefixMatches(p.path, path)) return p.target;
    }
    return this.fallback;
  }

  private pathsFor(host: string | undefined): HostPaths {
    if (host !== undefined) {
      const exact = this.exactHosts.get(host);
      if (exact !== undefined) return exact;
      const dot = host.indexOf('.');
      if (dot > 0) {
        const wild = this.wildcardHosts.get(`*${host.slice(dot)}`);
        if (wild !== undefined) return wild;
      }
    }
    return this.anyHost;
  }
}

function key(o: Pick<Ingress, 'metadata'>): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

/** One TLS entry resolved to its Secret: the hosts it serves. */
export interface TlsBinding {
  /** `<namespace>/<secretName>`. */
  secret: string;
  hosts: string[];
  ingress: string;
}

/**
 * TLS entries of every Ingress. An entry without hosts covers the hosts of its Ingress's rules
 * (what ingress-nginx does); the first Ingress (by namespace/name) to name a host wins it.
 */
export function tlsBindings(ingresses: Iterable<Pick<Ingress, 'metadata' | 'spec'>>): TlsBinding[] {
  const out: TlsBinding[] = [];
  const list = [...ingresses].sort((a, b) => key(a).localeCompare(key(b)));
  for (const ing of list) {
    const ns = ing.metadata.namespace ?? 'default';
    const ruleHosts = (ing.spec.rules ?? []).map((r) => r.host).filter((h): h is string => h !== undefined);
    for (const t of ing.spec.tls ?? ([] as IngressTLS[])) {
      if (t.secretName === undefined) continue;
      const hosts = (t.hosts && t.hosts.length > 0 ? t.hosts : ruleHosts).map((h) => h.toLowerCase());
      out.push({ secret: `${ns}/${t.secretName}`, hosts, ingress: key(ing) });
    }
  }
  return out;
}

/** The certificate entry for an SNI name: an exact host first, then a one-label wildcard. */
export function pickByServerName<T>(byHost: ReadonlyMap<string, T>, serverName: string): T | undefined {
  const name = serverName.toLowerCase();
  const exact = byHost.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? byHost.get(`*${name.slice(dot)}`) : undefined;
}
