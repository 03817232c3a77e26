// `GET /api/v1/dashboard/commits/{commit}[?source=id]`: the plan a sync applied for one
// commit, as the sync loop kept it (src/sync/plan-record.ts), with forge links added. The
// commit may be given whole or as a unique prefix of at least 7 hex digits.
import { STORE_PREFIX } from '../api/cluster.js';
import { apiError } from '../server/http.js';
import type { KV } from '../store/index.js';
import { parseSyncPlanKey, PLAN_RECORDS_KEPT, type SyncPlanObject, type SyncPlanRecord } from '../sync/index.js';
import { forgeCommitLink, forgeFileLink } from './forge.js';

export interface CommitPlanPage extends SyncPlanRecord {
  link: string | null;
  previousLink: string | null;
  objects: (SyncPlanObject & { link: string | null })[];
}

export interface StoredPlanKey {
  key: string;
  sourceId: string;
  commit: string;
  modRevision: number;
}

/**
 * The record key for `commit` among the stored ones: an exact commit first, else a unique
 * prefix; of several sources holding it, `source` when given, else the newest write.
 */
export function pickPlanKey(keys: StoredPlanKey[], commit: string, source?: string): StoredPlanKey | { ambiguous: string[] } | undefined {
  const wanted = commit.toLowerCase();
  const inSource = keys.filter((k) => source === undefined || k.sourceId === source);
  let found = inSource.filter((k) => k.commit.toLowerCase() === wanted);
  if (found.length === 0 && wanted.length >= 7) found = inSource.filter((k) => k.commit.toLowerCase().startsWith(wanted));
  const commits = [...new Set(found.map((k) => k.commit))];
  if (commits.length > 1) return { ambiguous: commits.sort() };
  return found.sort((a, b) => b.modRevision - a.modRevision)[0];
}

export function commitPage(record: SyncPlanRecord): CommitPlanPage {
  return {
    ...record,
    link: forgeCommitLink(record.location, record.commit) ?? null,
    previousLink: forgeCommitLink(record.location, record.previousCommit) ?? null,
    objects: record.objects.map((o) => ({ ...o, link: o.file && o.action !== 'delete' ? (forgeFileLink(record.location, record.commit, o.file, o.line) ?? null) : null })),
  };
}

export async function readCommitPlan(kv: KV, commit: string, source?: string): Promise<CommitPlanPage> {
  if (!/^[0-9a-fA-F]{4,64}$/.test(commit)) {
    throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `commit ${JSON.stringify(commit.slice(0, 80))} is not a commit id: give the hex digits of a synced commit (7 or more)`);
  }
  const r = await kv.range(STORE_PREFIX.syncPlans, { prefix: true, keysOnly: true });
  const keys: StoredPlanKey[] = [];
  for (const item of r.kvs) {
    const parsed = parseSyncPlanKey(item.key);
    if (parsed) keys.push({ key: item.key, ...parsed, modRevision: item.modRevision });
  }
  const picked = pickPlanKey(keys, commit, source);
  if (picked && 'ambiguous' in picked) {
    throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `commit prefix ${commit} matches ${picked.ambiguous.length} synced commits (${picked.ambiguous.map((c) => c.slice(0, 12)).join(', ')}); give more digits`);
  }
  const notKept = (): Error =>
    apiError(
      'CAPSTAN_ERR_API_NOT_FOUND',
      `no plan is kept for commit ${commit}${source !== undefined ? ` of source ${source}` : ''}: the store keeps what the newest ${PLAN_RECORDS_KEPT} applied commits of each source changed; a refused commit applied nothing (its errors are in the source's sync state, capstan get sources)`,
    );
  if (!picked) throw notKept();
  const item = await kv.get(picked.key);
  if (!item) throw notKept(); // replaced by a newer sync since the listing
  let record: SyncPlanRecord;
  try {
    record = JSON.parse(Buffer.from(item.value).toString('utf8')) as SyncPlanRecord;
  } catch {
    throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `the plan kept for commit ${picked.commit} is not readable; the next sync of that source replaces it`);
  }
  return commitPage(record);
}
