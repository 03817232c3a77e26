// Every pod's `spec.hostname` and `spec.subdomain` across the cluster, as the router feed
// carries them: the node's DNS names a pod of a headless Service `<hostname>.<svc>` when its
// subdomain is that Service's name. The feed KV fills it as the node's router lists and
// watches pods; it outlives a router restart (a new list replaces it whole).

/** A pod's DNS name fields; either may be missing. */
export interface PodDnsName {
  hostname?: string;
  subdomain?: string;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const label = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The hostname and subdomain of a (projected) pod, or undefined when it has neither. */
export function podDnsName(pod: unknown): PodDnsName | undefined {
  const spec = obj(obj(pod)?.spec);
  const hostname = label(spec?.hostname);
  const subdomain = label(spec?.subdomain);
  if (hostname === undefined && subdomain === undefined) return undefined;
  return { ...(hostname !== undefined ? { hostname } : {}), ...(subdomain !== undefined ? { subdomain } : {}) };
}

/**
 * The hostname a pod answers by below the Service `service` of its namespace, as Kubernetes
 * sets an endpoint's hostname: the pod's `spec.hostname` when its `spec.subdomain` is the
 * Service's name, else none (the pod answers by its address label).
 */
export function endpointHostname(name: PodDnsName | undefined, service: string): string | undefined {
  return name?.hostname !== undefined && name.subdomain === service ? name.hostname : undefined;
}

/** Pod DNS names by `<namespace>/<pod>` (the pod's key below the pods prefix). */
export class PodDnsNames {
  private readonly names = new Map<string, PodDnsName>();

  /** A full list: replaces everything held. */
  reset(items: Iterable<{ key: string; value: unknown }>): void {
    this.names.clear();
    for (const { key, value } of items) this.put(key, value);
  }

  /** One pod added or changed (`value` its projection), or gone (`value` null or undefined). */
  put(key: string, value: unknown): void {
    const name = value === null || value === undefined ? undefined : podDnsName(value);
    if (name === undefined) this.names.delete(key);
    else this.names.set(key, name);
  }

  get(namespace: string, pod: string): PodDnsName | undefined {
    return this.names.get(`${namespace}/${pod}`);
  }

  get size(): number {
    return this.names.size;
  }
}
