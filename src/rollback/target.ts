// Which revision a rollback goes back to: the one asked for, or the newest earlier one whose
// rollout ended Healthy. Reads the workload's desired record, revisions and history.
import { STORE_PREFIX, type DesiredRecord, type HistoryEntry, type Revision } from '../api/cluster.js';
import { CapstanError } from '../common/index.js';
import type { KV } from '../store/index.js';

/** Kinds that roll out revisions of a pod template. */
export const ROLLBACK_KINDS = ['Deployment', 'Rollout'] as const;

export interface Stored<T> {
  key: string;
  value: T;
  modRevision: number;
}

export interface RollbackTarget {
  kind: string;
  namespace: string;
  name: string;
  desired: Stored<DesiredRecord>;
  /** The revision number the workload is at now. */
  current: number;
  /** The revision to go back to. */
  revision: Revision;
  /** History entries by revision number. */
  history: Map<number, Stored<HistoryEntry>>;
}

const decoder = new TextDecoder();

function decode<T>(kv: { key: string; value: Uint8Array; modRevision: number }): Stored<T> | undefined {
  try {
    return { key: kv.key, value: JSON.parse(decoder.decode(kv.value)) as T, modRevision: kv.modRevision };
  } catch {
    return undefined;
  }
}

export async function findRollbackTarget(kv: KV, t: { namespace: string; name: string }, toRevision: number | undefined): Promise<RollbackTarget> {
  let desired: Stored<DesiredRecord> | undefined;
  let kind = '';
  for (const k of ROLLBACK_KINDS) {
    const item = await kv.get(`${STORE_PREFIX.desired}${k}/${t.namespace}/${t.name}`);
    desired = item ? decode<DesiredRecord>(item) : undefined;
    if (desired) {
      kind = k;
      break;
    }
  }
  if (!desired) throw new CapstanError('CAPSTAN_ERR_API_NOT_FOUND', `no Deployment or Rollout ${t.namespace}/${t.name}`, { context: { ...t } });

  const [revs, hist] = await Promise.all([
    kv.range(`${STORE_PREFIX.revisions}${t.namespace}/${t.name}/`, { prefix: true }),
    kv.range(`${STORE_PREFIX.history}${t.namespace}/${t.name}/`, { prefix: true }),
  ]);
  const revisions = revs.kvs.map((r) => decode<Revision>(r)?.value).filter((r): r is Revision => r?.metadata?.revision !== undefined);
  const history = new Map<number, Stored<HistoryEntry>>();
  for (const h of hist.kvs) {
    const e = decode<HistoryEntry>(h);
    if (e) history.set(e.value.revision, e);
  }
  const numbers = [...revisions.map((r) => r.metadata.revision), ...history.keys()];
  if (numbers.length === 0) throw new CapstanError('CAPSTAN_ERR_API_NOT_FOUND', `${kind} ${t.namespace}/${t.name} has no revisions yet`, { context: { ...t } });
  const current = Math.max(...numbers);

  let wanted = toRevision;
  if (wanted === undefined) {
    // The newest earlier Healthy revision whose template is still kept and differs from the one
    // running: after one rollback the revision gone back to is renumbered (as Kubernetes does),
    // so a second rollback must skip its old number rather than fail on it.
    const kept = new Map(revisions.map((r) => [r.metadata.revision, r]));
    const runningHash = kept.get(current)?.metadata.hash;
    const healthy = [...history.values()].map((e) => e.value).filter((e) => e.revision < current && e.outcome === 'Healthy');
    const best = healthy.sort((a, b) => b.revision - a.revision).find((e) => kept.has(e.revision) && kept.get(e.revision)!.metadata.hash !== runningHash);
    if (!best) {
      const why = healthy.length > 0 ? ` that is still kept (Healthy: ${healthy.map((e) => e.revision).join(', ')}; kept: ${[...kept.keys()].sort((a, b) => a - b).join(', ') || 'none'})` : '';
      throw new CapstanError('CAPSTAN_ERR_API_NOT_FOUND', `${kind} ${t.namespace}/${t.name} has no earlier Healthy revision${why}; name one with --to-revision`, { context: { ...t } });
    }
    wanted = best.revision;
  }
  if (wanted === current) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', `${kind} ${t.namespace}/${t.name} is at revision ${current} already`, { context: { ...t, revision: current } });
  }
  const revision = revisions.find((r) => r.metadata.revision === wanted);
  if (!revision) {
    const kept = revisions.map((r) => r.metadata.revision).sort((a, b) => a - b);
    throw new CapstanError('CAPSTAN_ERR_API_NOT_FOUND', `revision ${wanted} of ${t.namespace}/${t.name} is not kept any more; kept: ${kept.join(', ') || 'none'}`, {
      context: { ...t, revision: wanted },
    });
  }
  return { kind, namespace: t.namespace, name: t.name, desired, current, revision, history };
}
