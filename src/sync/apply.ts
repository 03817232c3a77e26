// Desired objects → the store, in one transaction: a commit applies whole or not at all.

import { STORE_PREFIX, type DesiredRecord } from '../api/cluster.js';
import { objectId, type SourcedObject } from '../api/types.js';
import { CapstanError, isCapstanError } from '../common/index.js';
import { computePlan, type Plan } from '../plan/index.js';
import type { CommitInfo } from '../source/types.js';
import type { Compare, KV, TxnOp } from '../store/types.js';

export function desiredKey(o: { kind: string; namespace: string; name: string }): string {
  return `${STORE_PREFIX.desired}${objectId(o)}`;
}

const decoder = new TextDecoder();

export interface CurrentDesired {
  records: Map<string, { record: DesiredRecord; modRevision: number }>;
  revision: number;
}

/** Every desired object the store holds, with the revision each was written at. */
export async function readDesired(kv: KV): Promise<CurrentDesired> {
  const r = await kv.range(STORE_PREFIX.desired, { prefix: true });
  const records = new Map<string, { record: DesiredRecord; modRevision: number }>();
  for (const kv of r.kvs) records.set(kv.key, { record: JSON.parse(decoder.decode(kv.value)) as DesiredRecord, modRevision: kv.modRevision });
  return { records, revision: r.revision };
}

export interface PruneGuard {
  /** Allow a commit that deletes every object, or more than half of them. */
  allowMassPrune: boolean;
}

/** Why a plan's deletions are held back, or undefined when they may go ahead. */
export function pruneHeldReason(plan: Plan, currentCount: number, guard: PruneGuard): string | undefined {
  const deletes = plan.summary.delete;
  if (deletes === 0 || guard.allowMassPrune) return undefined;
  if (deletes === currentCount) return `the commit would delete all ${currentCount} objects; held until allowed (capstan sync --allow-mass-prune)`;
  if (deletes > currentCount / 2) return `the commit would delete ${deletes} of ${currentCount} objects (more than half); held until allowed (capstan sync --allow-mass-prune)`;
  return undefined;
}

export interface ApplyInput {
  kv: KV;
  desired: SourcedObject[];
  current: CurrentDesired;
  plan: Plan;
  commit?: string;
  /** Author and summary of `commit`, when the source can tell. */
  commitInfo?: CommitInfo;
  now: Date;
  /** Extra ops written in the same transaction (the sync state record, the commit's plan record). */
  alsoPut?: { key: string; value: string }[];
  /** Keys deleted in the same transaction (plan records older than the ones kept). */
  alsoDelete?: string[];
}

/**
 * Write the plan's creates, updates and deletes in one transaction that succeeds only if no
 * desired object changed since it was read (optimistic concurrency).
 */
export async function applyPlan(input: ApplyInput): Promise<{ applied: boolean; revision: number }> {
  const byId = new Map(input.desired.map((o) => [desiredKey({ kind: o.object.kind, ...o.object.metadata }), o]));
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  for (const change of input.plan.changes) {
    const key = desiredKey(change);
    const have = input.current.records.get(key);
    compare.push({ key, target: 'modRevision', op: '==', value: have?.modRevision ?? 0 });
    if (change.action === 'delete') {
      ops.push({ type: 'delete', key });
      continue;
    }
    const want = byId.get(key);
    if (!want) throw new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `plan names ${key} but the desired set does not hold it`);
    const record: DesiredRecord = {
      object: want.object,
      source: want.source,
      commit: input.commit,
      ...(input.commitInfo ? { author: input.commitInfo.author, commitMessage: input.commitInfo.summary.slice(0, 200) } : {}),
      appliedAt: input.now.toISOString(),
    };
    ops.push({ type: 'put', key, value: JSON.stringify(record) });
  }
  for (const extra of input.alsoPut ?? []) ops.push({ type: 'put', key: extra.key, value: extra.value });
  for (const key of input.alsoDelete ?? []) ops.push({ type: 'delete', key });
  let result;
  try {
    result = await input.kv.txn({ compare, success: ops, failure: [] });
  } catch (err) {
    // etcd caps a transaction (--max-txn-ops, default 128; --max-request-bytes): a commit
    // is still applied whole or not at all, so say what to change rather than split it.
    if (isCapstanError(err) && err.code === 'CAPSTAN_ERR_STORE_TOO_LARGE') {
      throw new CapstanError(
        'CAPSTAN_ERR_STORE_TOO_LARGE',
        `the commit changes ${input.plan.changes.length} objects, written in one transaction (${ops.length} operations) so that it lands whole, ` +
          `and the store refused it as too large; nothing was applied. On etcd, raise --max-txn-ops (default 128) and --max-request-bytes, or split the change across commits`,
        { cause: err, context: { objects: input.plan.changes.length, operations: ops.length } },
      );
    }
    throw err;
  }
  return { applied: result.succeeded, revision: result.revision };
}

/** The plan of a desired set against what the store holds. */
export function planAgainstStore(desired: SourcedObject[], current: CurrentDesired, meta: { location: string; ref?: string; commit?: string }): Plan {
  const currentObjects: SourcedObject[] = [...current.records.values()].map(({ record }) => ({ object: record.object, source: record.source }));
  return computePlan({
    source: meta,
    desired,
    errors: [],
    warnings: [],
    base: { kind: 'server', url: 'store' },
    current: currentObjects,
  });
}
