// imagePullSecrets → the credentials for one image's registry: pure. Reads the data of
// kubernetes.io/dockerconfigjson (`.dockerconfigjson`: {"auths": {...}}) and
// kubernetes.io/dockercfg (`.dockercfg`: the auths map itself) Secrets. Credentials never go
// into an error message.

/** What dockerode's pull takes as `authconfig`. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  identitytoken?: string;
  serveraddress: string;
}

interface AuthEntry {
  username?: string;
  password?: string;
  auth?: string;
  identitytoken?: string;
}

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The registry host of an image reference: docker.io when the first segment is not a host. */
export function registryHost(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  // As Docker decides: a first segment with a dot or a port, or localhost, names a registry.
  if (first.includes('.') || first.includes(':') || first === 'localhost') return DOCKER_HUB_HOSTS.has(first) ? 'docker.io' : first;
  return 'docker.io';
}

/** The host part of an auths key: `https://host:5000/v1/` → `host:5000`. */
export function keyHost(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return DOCKER_HUB_HOSTS.has(k) ? 'docker.io' : k;
}

/** The auths map of one pull Secret's data, or undefined when it has neither key or they do not parse. */
export function authsOf(data: Record<string, string>): Record<string, AuthEntry> | undefined {
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  let auths: unknown;
  if (data['.dockerconfigjson'] !== undefined) {
    const parsed = parse(data['.dockerconfigjson']);
    auths = isObj(parsed) ? parsed.auths : undefined;
  } else if (data['.dockercfg'] !== undefined) {
    auths = parse(data['.dockercfg']);
  }
  if (!isObj(auths)) return undefined;
  const out: Record<string, AuthEntry> = {};
  for (const [key, entry] of Object.entries(auths)) if (isObj(entry)) out[key] = entry as AuthEntry;
  return out;
}

/**
 * The credentials for `image` from the pull Secrets' data, in the order the pod lists them
 * (the first Secret with an entry for the registry wins, as the kubelet tries them in order).
 * `auth` (base64 "user:password") is decoded into username and password.
 */
export function pickRegistryAuth(image: string, secrets: Array<Record<string, string>>): RegistryAuth | undefined {
  const host = registryHost(image);
  for (const data of secrets) {
    const auths = authsOf(data);
    if (auths === undefined) continue;
    for (const [key, entry] of Object.entries(auths)) {
      if (keyHost(key) !== host) continue;
      const out: RegistryAuth = { serveraddress: host === 'docker.io' ? DOCKER_HUB_KEY : host };
      if (entry.username !== undefined) out.username = String(entry.username);
      if (entry.password !== undefined) out.password = String(entry.password);
      if (entry.identitytoken !== undefined) out.identitytoken = String(entry.identitytoken);
      if (out.username === undefined && typeof entry.auth === 'string' && entry.auth !== '') {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) {
          out.username = decoded.slice(0, colon);
          out.password = decoded.slice(colon + 1);
        }
      }
      return out;
    }
  }
  return undefined;
}
