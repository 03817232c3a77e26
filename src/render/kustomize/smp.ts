// Strategic merge patch for the common cases of Kubernetes objects, as kustomize applies them:
// mappings merge key by key, `null` deletes a key, lists of named things (containers, env,
// volumes, volumeMounts, ports...) merge item by item on their merge key, other lists are
// replaced, and `$patch: delete` / `$patch: replace` delete or replace a mapping or list item.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonMap = { [k: string]: Json };

/** Merge keys of the lists that strategic merge patches merge item by item, by field name. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  tolerations: 'key',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};

/** Ports merge by containerPort inside containers and by port inside a Service spec. */
function mergeKeyFor(key: string, parentKey: string | undefined): string | undefined {
  if (key === 'ports') return parentKey === 'spec' ? 'port' : 'containerPort';
  if (key === 'imagePullSecrets') return 'name';
  return MERGE_KEYS[key];
}

export function isMap(v: unknown): v is JsonMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function clone<T extends Json | undefined>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Remove directive keys (`$patch`, `$setElementOrder/...`, `$retainKeys`) from a patch value. */
function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.filter((x) => !(isMap(x) && x.$patch === 'delete')).map(stripDirectives);
  if (!isMap(v)) return v;
  const out: JsonMap = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

/**
 * Apply a strategic merge patch to `target` and return the result (`target` is not changed).
 * Returns undefined when the patch deletes the whole object (`$patch: delete` at the top).
 */
export function strategicMerge(target: JsonMap, patch: JsonMap): JsonMap | undefined {
  if (patch.$patch === 'delete') return undefined;
  return mergeMap(target, patch, undefined);
}

function mergeMap(target: JsonMap, patch: JsonMap, parentKey: string | undefined): JsonMap {
  if (patch.$patch === 'replace') return stripDirectives(patch) as JsonMap;
  const out: JsonMap = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    if (isMap(value)) {
      if (value.$patch === 'delete') {
        delete out[key];
        continue;
      }
      out[key] = isMap(current) ? mergeMap(current, value, key) : (stripDirectives(value) as JsonMap);
      continue;
    }
    if (Array.isArray(value)) {
      out[key] = mergeList(key, Array.isArray(current) ? current : undefined, value, parentKey);
      continue;
    }
    out[key] = value;
  }
  return out;
}

function mergeList(key: string, current: Json[] | undefined, patch: Json[], parentKey: string | undefined): Json[] {
  const replace = patch.some((x) => isMap(x) && x.$patch === 'replace' && Object.keys(x).length === 1);
  if (replace) return stripDirectives(patch.filter((x) => !(isMap(x) && x.$patch === 'replace' && Object.keys(x).length === 1))) as Json[];
  const mergeKey = mergeKeyFor(key, parentKey);
  if (!mergeKey || !current || !patch.every((x) => isMap(x) && x[mergeKey] !== undefined)) {
    return stripDirectives(patch) as Json[];
  }
  const out: Json[] = current.map((x) => clone(x));
  for (const item of patch as JsonMap[]) {
    const at = out.findIndex((x) => isMap(x) && x[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = mergeMap(out[at] as JsonMap, item, key);
    else out.push(stripDirectives(item));
  }
  return out;
}
