// Secret values are never served to people: every read by a viewer, deployer or admin
// (get, list, watch, of every resource) shows a Secret's `data` and `stringData` keys with
// a fixed mask in place of each value, as Argo CD does. Nothing derived from a value (no
// length, no hash) is kept: low-entropy values would be guessable from it. The real values
// go only to an agent, and only for a Secret a pod bound to its node references
// (agentNeedsEnvSource).
import type { Principal } from './auth.js';
import type { Resource } from './resources.js';

/** What every Secret value reads as. */
export const SECRET_MASK = '++++++++';

/**
 * Annotations that carry a full copy of the object they sit on (kubectl's client-side
 * apply): on a Secret, that copy holds the values too.
 */
export const MANIFEST_COPY_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'] as const;

type Json = unknown;

function isPlainObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function maskValues(values: Json): Json {
  if (!isPlainObject(values)) return values === undefined || values === null ? values : SECRET_MASK;
  return Object.fromEntries(Object.keys(values).map((k) => [k, SECRET_MASK]));
}

function redactSecret(secret: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...secret };
  if ('data' in out) out.data = maskValues(out.data);
  if ('stringData' in out) out.stringData = maskValues(out.stringData);
  const metadata = out.metadata;
  if (isPlainObject(metadata) && isPlainObject(metadata.annotations)) {
    const annotations = metadata.annotations;
    if (MANIFEST_COPY_ANNOTATIONS.some((a) => a in annotations)) {
      const masked: Record<string, Json> = { ...annotations };
      for (const a of MANIFEST_COPY_ANNOTATIONS) if (a in masked) masked[a] = SECRET_MASK;
      out.metadata = { ...metadata, annotations: masked };
    }
  }
  return out;
}

/**
 * A copy of `value` in which every Secret object, wherever it sits (a desired record's
 * `object`, a list, a revision that embeds manifests), has its values masked. The input is
 * not changed; parts without a Secret are shared, not copied.
 */
export function redactSecrets<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: Json): Json {
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const r = walk(item);
      if (r !== item) changed = true;
      return r;
    });
    return changed ? out : value;
  }
  if (!isPlainObject(value)) return value;
  let out: Record<string, Json> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = walk(v);
    if (r !== v) (out ??= { ...value })[k] = r;
  }
  const base = out ?? value;
  return base.kind === 'Secret' && isPlainObject(base.metadata) ? redactSecret(base) : base;
}

/** Whether this caller reads Secret values masked: everyone but agents (NodeRestriction decides what they read). */
export function readsMasked(principal: Principal): boolean {
  return principal.role !== 'agent';
}

/** The same resource with every object it serves (get, list, watch events) passed through redactSecrets. */
export function redactingResource(r: Resource): Resource {
  return {
    ...r,
    async list(kv, revision, namespace) {
      return (await r.list(kv, revision, namespace)).map((item) => redactSecrets(item));
    },
    async get(kv, segments) {
      const item = await r.get(kv, segments);
      return item === undefined ? undefined : redactSecrets(item);
    },
    async event(kv, e, revision) {
      const ev = await r.event(kv, e, revision);
      return ev === undefined ? undefined : { ...ev, object: redactSecrets(ev.object) };
    },
  };
}
