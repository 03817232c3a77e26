// Environment resolution: `env` and `envFrom` with ConfigMap and Secret references, looked up
// through a callback (the agent fetches them from the API server; tests pass a map).

import { CapstanError } from '../common/index.js';
import type { ContainerSpec } from '../api/cluster.js';

export interface EnvSourceRef {
  kind: 'ConfigMap' | 'Secret';
  name: string;
}

/** The data of a ConfigMap or Secret (Secret values already decoded), or undefined when it does not exist. */
export type EnvLookup = (ref: EnvSourceRef) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * The container's environment as a plain map. Order follows Kubernetes: `base` (the Service
 * variables) first, then `envFrom` sources (later ones win), then `env` (wins over `envFrom`).
 * `$(NAME)` in a value expands to a variable defined before it, `base` included; `$$(NAME)`
 * stays literal. A missing, non-optional reference throws CAPSTAN_ERR_AGENT_CONTAINER_CONFIG
 * (shown as CreateContainerConfigError).
 */
export async function resolveEnv(
  container: Pick<ContainerSpec, 'name' | 'env' | 'envFrom'>,
  lookup: EnvLookup,
  base: Readonly<Record<string, string>> = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...base };
  const missing = (what: string): CapstanError =>
    new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `${what} not found (container "${container.name}")`, { context: { container: container.name } });

  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (ref === undefined) continue;
    const kind = source.configMapRef !== undefined ? 'ConfigMap' : 'Secret';
    const data = await lookup({ kind, name: ref.name });
    if (data === undefined) {
      if (ref.optional) continue;
      throw missing(`${kind.toLowerCase() === 'configmap' ? 'configmap' : 'secret'} "${ref.name}"`);
    }
    for (const [key, value] of Object.entries(data)) {
      const name = `${source.prefix ?? ''}${key}`;
      // Kubernetes skips keys that are not valid variable names rather than failing.
      if (ENV_NAME.test(name)) out[name] = value;
    }
  }

  for (const v of container.env ?? []) {
    if (v.valueFrom?.configMapKeyRef !== undefined || v.valueFrom?.secretKeyRef !== undefined) {
      const cm = v.valueFrom.configMapKeyRef;
      const ref = cm ?? v.valueFrom.secretKeyRef!;
      const kind = cm !== undefined ? 'ConfigMap' : 'Secret';
      const data = await lookup({ kind, name: ref.name });
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        const label = kind === 'ConfigMap' ? 'configmap' : 'secret';
        throw missing(data === undefined ? `${label} "${ref.name}"` : `key "${ref.key}" in ${label} "${ref.name}"`);
      }
      out[v.name] = value;
    } else {
      out[v.name] = expandVars(v.value ?? '', out);
    }
  }
  return out;
}

/** Kubernetes `$(VAR)` expansion: unknown names stay as written, `$$` escapes. */
export function expandVars(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([^)]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && Object.prototype.hasOwnProperty.call(env, name) ? env[name] : match;
  });
}
