// Writes made conditional on holding leadership. Every put, delete and transaction of the
// controllers also compares the fence key's mod revision with the one the current term's
// takeover wrote. A holder that lost the role without noticing (paused past its deadline, cut
// off from the store) has its writes refused with CAPSTAN_ERR_CONTROLLER_NOT_LEADER, never
// applied beside the new holder's. Reads, watches and leases pass through unchanged.
import { CapstanError } from '../../common/index.js';
import type { Compare, KV, TxnOp, TxnRequest, TxnResult } from '../../store/index.js';
import type { Fence } from './leader.js';

function notLeader(what: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CONTROLLER_NOT_LEADER', `${what} refused: this instance no longer holds controller leadership (another member runs the controllers now)`);
}

/**
 * `kv` whose writes hold only while `fence()` is the fence the store has. `onLost` is told
 * when a write finds that another term has taken over.
 */
export function fencedKV(kv: KV, fence: () => Fence | undefined, onLost?: (reason: string) => void): KV {
  const guarded = async (request: TxnRequest, what: string): Promise<TxnResult> => {
    const f = fence();
    if (!f) throw notLeader(what);
    const guard: Compare = { key: f.key, target: 'modRevision', op: '==', value: f.revision };
    // One more read on the failure branch tells a failed compare of the caller's from a lost fence.
    const probe: TxnOp = { type: 'get', key: f.key };
    const r = await kv.txn({ compare: [...request.compare, guard], success: request.success, failure: [...request.failure, probe] });
    if (r.succeeded) return r;
    const last = r.results[r.results.length - 1];
    const current = last?.type === 'get' ? last.kvs[0]?.modRevision ?? 0 : 0;
    if (current !== f.revision) {
      onLost?.(`${what} found the fence of a later term`);
      throw notLeader(what);
    }
    return { ...r, results: r.results.slice(0, -1) };
  };
  return {
    get: (key, opts) => kv.get(key, opts),
    range: (key, opts) => kv.range(key, opts),
    watch: (key, opts) => kv.watch(key, opts),
    compact: (revision) => kv.compact(revision),
    grant: (ttl) => kv.grant(ttl),
    keepAlive: (id) => kv.keepAlive(id),
    revoke: (id) => kv.revoke(id),
    revision: () => kv.revision(),
    close: () => kv.close(),
    async put(key, value, opts = {}) {
      // A transaction's put does not return the previous value: read it first in the same one.
      const put: TxnOp = { type: 'put', key, value, ...(opts.lease !== undefined ? { lease: opts.lease } : {}) };
      const r = await guarded({ compare: [], success: opts.prevKv ? [{ type: 'get', key }, put] : [put], failure: [] }, `put ${key}`);
      const prev = opts.prevKv && r.results[0]?.type === 'get' ? r.results[0].kvs[0] : undefined;
      return { revision: r.revision, ...(prev ? { prevKv: prev } : {}) };
    },
    async delete(key, opts = {}) {
      const r = await guarded({ compare: [], success: [{ type: 'delete', key, ...(opts.prefix ? { prefix: true } : {}) }], failure: [] }, `delete ${key}`);
      const del = r.results[0];
      return del?.type === 'delete' ? { revision: r.revision, deleted: del.deleted, prevKvs: del.prevKvs } : { revision: r.revision, deleted: 0, prevKvs: [] };
    },
    txn: (request) => guarded(request, 'transaction'),
  };
}
