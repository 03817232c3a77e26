// The "Try:" lines `capstan up` prints under its banner: commands that show something of the
// source it just synced. A workload line names a Deployment or Rollout the source holds (one
// of the default namespace first); with none, only the lines that need no name are printed.
import { STORE_PREFIX } from '../api/cluster.js';
import type { KV } from '../store/types.js';

/** A synced object, as its desired-record key names it. */
export interface SyncedObject {
  kind: string;
  namespace: string;
  name: string;
}

const WORKLOAD_KINDS = ['Deployment', 'Rollout'];
const HINT_KINDS = [...WORKLOAD_KINDS, 'Service'];

function byPreference(a: SyncedObject, b: SyncedObject): number {
  const ad = a.namespace === 'default' ? 0 : 1;
  const bd = b.namespace === 'default' ? 0 : 1;
  if (ad !== bd) return ad - bd;
  const ak = WORKLOAD_KINDS.indexOf(a.kind);
  const bk = WORKLOAD_KINDS.indexOf(b.kind);
  if (ak !== bk) return ak - bk;
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

/**
 * The "Try:" commands for what was synced; `dataDirFlag` is appended to each (empty when the
 * data dir is the default one).
 */
export function tryLines(objects: readonly SyncedObject[], dataDirFlag: string): string[] {
  const lines = [`npx capstan get pods${dataDirFlag}`];
  if (objects.some((o) => o.kind === 'Deployment')) lines.push(`npx capstan get deployments${dataDirFlag}`);
  if (objects.some((o) => o.kind === 'Service')) lines.push(`npx capstan get services${dataDirFlag}`);
  const workload = objects.filter((o) => WORKLOAD_KINDS.includes(o.kind)).sort(byPreference)[0];
  if (workload !== undefined) {
    const ns = workload.namespace === 'default' ? '' : ` -n ${workload.namespace}`;
    lines.push(`npx capstan status ${workload.name}${ns} --wait${dataDirFlag}`);
  }
  return lines.map((l) => `  ${l}`);
}

/** The Deployments, Rollouts and Services the store holds from the source (their desired records' keys). */
export async function syncedObjects(kv: Pick<KV, 'range'>): Promise<SyncedObject[]> {
  const found: SyncedObject[] = [];
  for (const kind of HINT_KINDS) {
    const prefix = `${STORE_PREFIX.desired}${kind}/`;
    const r = await kv.range(prefix, { prefix: true, keysOnly: true });
    for (const k of r.kvs) {
      const [namespace, name] = k.key.slice(prefix.length).split('/');
      if (namespace && name) found.push({ kind, namespace, name });
    }
  }
  return found;
}
