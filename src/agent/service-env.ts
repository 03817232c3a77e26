// The Service environment variables of a pod's containers, as a pure function of the Services
// the agent has seen: Kubernetes' `<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT…` and
// `<SVC>_PORT_…` for every Service of the pod's namespace, each at the address where this
// node's router answers (the router listens on each Service port itself).
import type { Pod } from '../api/cluster.js';
import { isHeadless } from '../api/index.js';
import { serviceEnvironment, type DnsService, type DnsServicePort } from '../dns/index.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Service as the API serves it (`/api/v1/services`: namespace, name and the stored object)
 * → what the variables need; undefined for anything that is not one.
 */
export function serviceFromView(view: unknown): DnsService | undefined {
  if (!isObj(view) || !isObj(view.object)) return undefined;
  const metadata = view.object.metadata;
  const spec = isObj(view.object.spec) ? view.object.spec : {};
  const namespace = isObj(metadata) && typeof metadata.namespace === 'string' ? metadata.namespace : view.namespace;
  const name = isObj(metadata) && typeof metadata.name === 'string' ? metadata.name : view.name;
  if (typeof namespace !== 'string' || typeof name !== 'string') return undefined;
  const ports: DnsServicePort[] = [];
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isObj(p) || typeof p.port !== 'number') continue;
    ports.push({
      port: p.port,
      ...(typeof p.name === 'string' && p.name !== '' ? { name: p.name } : {}),
      ...(p.protocol === 'TCP' || p.protocol === 'UDP' || p.protocol === 'SCTP' ? { protocol: p.protocol } : {}),
    });
  }
  const selector: Record<string, string> = {};
  if (isObj(spec.selector)) for (const [k, v] of Object.entries(spec.selector)) if (typeof v === 'string') selector[k] = v;
  return {
    namespace,
    name,
    headless: isHeadless({ clusterIP: typeof spec.clusterIP === 'string' ? spec.clusterIP : undefined }),
    ports,
    ...(Object.keys(selector).length > 0 ? { selector } : {}),
  };
}

/**
 * The variables a container of `pod` starts with: those of its namespace's Services at
 * `serviceHost`, or none when the pod says `enableServiceLinks: false`. The container's own
 * `env` and `envFrom` are applied over them (they win on a name clash).
 */
export function podServiceEnv(pod: Pick<Pod, 'metadata' | 'spec'>, services: readonly DnsService[], serviceHost: string): Record<string, string> {
  if (pod.spec.enableServiceLinks === false) return {};
  const out: Record<string, string> = {};
  for (const v of serviceEnvironment(services, pod.metadata.namespace, serviceHost)) out[v.name] = v.value;
  return out;
}
