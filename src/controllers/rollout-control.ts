// Rollout control actions (promote, abort, retry, pause, resume) for the API's control routes.
// Each writes the workload's override record; the workload controller acts on it in its next
// pass and clears what it has used, so a repeated request is harmless.
import { STORE_PREFIX } from '../api/cluster.js';
import { CapstanError } from '../common/index.js';
import type { KV } from '../store/index.js';
import { decodeJson } from './workload/keys.js';
import type { StoredWorkloadStatus } from './workload/observed.js';
import { LIVE_ROLLBACK_FIELDS, overrideKeyOf, type RolloutOverride } from './workload/progressive.js';
import type { Clock } from './framework/index.js';

export interface RolloutControlTarget {
  namespace: string;
  name: string;
}

export interface RolloutControlReply {
  message: string;
  kind: string;
  namespace: string;
  name: string;
  revision?: number;
}

export type RolloutControlHandler = (target: RolloutControlTarget, request: { body?: unknown }) => Promise<RolloutControlReply>;

export interface RolloutControlHandlers {
  promote: RolloutControlHandler;
  abort: RolloutControlHandler;
  retry: RolloutControlHandler;
  pause: RolloutControlHandler;
  resume: RolloutControlHandler;
}

const WRITE_ATTEMPTS = 5;

interface Found {
  kind: string;
  strategy: 'Canary' | 'BlueGreen' | 'Other';
  status?: StoredWorkloadStatus;
  /** Template hash of the current revision, from the status record. */
  hash?: string;
}

async function find(kv: KV, t: RolloutControlTarget): Promise<Found> {
  for (const kind of ['Rollout', 'Deployment']) {
    const item = await kv.get(`${STORE_PREFIX.desired}${kind}/${t.namespace}/${t.name}`);
    const rec = decodeJson<{ object?: { spec?: { strategy?: { canary?: unknown; blueGreen?: unknown } } } }>(item);
    if (!rec?.object) continue;
    const s = rec.object.spec?.strategy ?? {};
    const strategy = s.canary ? 'Canary' : s.blueGreen ? 'BlueGreen' : 'Other';
    const status = decodeJson<StoredWorkloadStatus>(await kv.get(`${STORE_PREFIX.status}${kind}/${t.namespace}/${t.name}`));
    const prefix = `${t.name}-`;
    const hash = status?.revisionName?.startsWith(prefix) ? status.revisionName.slice(prefix.length) : undefined;
    return { kind, strategy, ...(status ? { status } : {}), ...(hash ? { hash } : {}) };
  }
  throw new CapstanError('CAPSTAN_ERR_API_NOT_FOUND', `no Deployment or Rollout ${t.namespace}/${t.name}`, { context: { ...t } });
}

/** Read-modify-write of the override record, guarded; `change` returns undefined to write nothing. */
async function update(
  kv: KV,
  key: string,
  now: string,
  change: (current: RolloutOverride | undefined) => RolloutOverride | null | undefined,
): Promise<void> {
  for (let i = 0; i < WRITE_ATTEMPTS; i++) {
    const item = await kv.get(key);
    const current = decodeJson<RolloutOverride>(item);
    const next = change(current);
    if (next === undefined) return;
    const compare = [{ key, target: 'modRevision' as const, op: '==' as const, value: item?.modRevision ?? 0 }];
    const op = next === null ? { type: 'delete' as const, key } : { type: 'put' as const, key, value: JSON.stringify({ ...next, at: now }) };
    const r = await kv.txn({ compare, success: [op], failure: [] });
    if (r.succeeded) return;
  }
  throw new CapstanError('CAPSTAN_ERR_API_CONFLICT', `the rollout's override record kept changing; try again`, { context: { key } });
}

/** Nothing left but bookkeeping; other writers' fields (a live rollback's pin) count as content. */
const isEmpty = (o: RolloutOverride): boolean => Object.keys(o).every((k) => k === 'at' || k === 'retryOf');

export function rolloutControlHandlers(kv: KV, options: { clock?: Clock } = {}): RolloutControlHandlers {
  const now = (): string => new Date(options.clock ? options.clock.now() : Date.now()).toISOString();
  const reply = (t: RolloutControlTarget, f: Found, message: string): RolloutControlReply => ({
    message,
    kind: f.kind,
    namespace: t.namespace,
    name: t.name,
    ...(f.status ? { revision: f.status.revision } : {}),
  });
  const progressiveOnly = (f: Found, action: string, t: RolloutControlTarget): void => {
    if (f.strategy === 'Other') {
      throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', `${action} applies to canary and blue-green rollouts; ${f.kind} ${t.namespace}/${t.name} has neither`, {
        context: { ...t, action },
      });
    }
  };
  const key = (f: Found, t: RolloutControlTarget): string => overrideKeyOf({ kind: f.kind, ...t });

  return {
    async promote(t, req) {
      const f = await find(kv, t);
      progressiveOnly(f, 'promote', t);
      if (!f.hash) throw new CapstanError('CAPSTAN_ERR_API_CONFLICT', `${t.namespace}/${t.name} has no rollout under way yet; try again`, { context: { ...t } });
      const body = req.body as { full?: unknown } | undefined;
      const full = typeof body === 'object' && body !== null && body.full === true;
      const hash = f.hash;
      await update(kv, key(f, t), now(), (cur) => {
        const next: RolloutOverride = { ...(cur ?? { at: '' }), promote: full ? 'full' : 'step', promoteHash: hash };
        delete next.paused; // as in Argo, a promote also resumes
        return next;
      });
      return reply(t, f, full ? `${t.name} promoted: skipping every remaining step` : `${t.name} promoted: moving to the next step`);
    },
    async abort(t) {
      const f = await find(kv, t);
      progressiveOnly(f, 'abort', t);
      const hash = f.hash;
      if (!hash) throw new CapstanError('CAPSTAN_ERR_API_CONFLICT', `${t.namespace}/${t.name} has no rollout under way yet; try again`, { context: { ...t } });
      // Promoted already: only a blue-green that still has its previous active revision up can go back.
      if (f.status?.stableRevision === hash && !f.status.previousActive) {
        return reply(t, f, `${t.name}: revision ${f.status.revision} is already stable; nothing to abort`);
      }
      await update(kv, key(f, t), now(), (cur) => {
        const next: RolloutOverride = { ...(cur ?? { at: '' }), abortedHash: hash };
        delete next.promote;
        delete next.promoteHash;
        return next;
      });
      return reply(t, f, `${t.name} aborted: all traffic back to the stable revision; this revision stays pinned until Git changes or a retry`);
    },
    async retry(t) {
      const f = await find(kv, t);
      progressiveOnly(f, 'retry', t);
      let was: string | undefined;
      await update(kv, key(f, t), now(), (cur) => {
        if (!cur?.abortedHash) return undefined;
        was = cur.abortedHash;
        const next: RolloutOverride = { ...cur, retryOf: cur.abortedHash };
        delete next.abortedHash;
        delete next.analysis;
        delete next.backgroundAnalysis;
        return next;
      });
      return reply(t, f, was ? `${t.name} retried: the rollout starts again from step 0` : `${t.name} is not aborted; nothing to retry`);
    },
    async pause(t) {
      const f = await find(kv, t);
      await update(kv, key(f, t), now(), (cur) => (cur?.paused ? undefined : { ...(cur ?? { at: '' }), paused: true }));
      return reply(t, f, `${t.name} paused`);
    },
    async resume(t) {
      const f = await find(kv, t);
      await update(kv, key(f, t), now(), (cur) => {
        const pinned = cur !== undefined && LIVE_ROLLBACK_FIELDS.some((k) => k in cur);
        if (!cur?.paused && !pinned) return undefined;
        const next: Record<string, unknown> = { ...cur };
        delete next.paused;
        for (const k of LIVE_ROLLBACK_FIELDS) delete next[k];
        return isEmpty(next as unknown as RolloutOverride) ? null : (next as unknown as RolloutOverride);
      });
      return reply(t, f, `${t.name} resumed`);
    },
  };
}
