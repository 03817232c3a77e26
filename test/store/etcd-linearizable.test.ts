// The client-history checkers against a real 3-member etcd cluster, through Capstan's etcd
// backend: concurrent clients put, read, compare-and-put and delete a few keys while members
// (the leader among them) are stopped and started again; watchers follow the keys, one of
// them closing and resuming from the revision after the last it saw. Writes go on being
// answered while a member is down. The history (timeouts as
// unknown outcomes) must be linearizable and the watches clean, and the same history with one
// stale read added must not be: the checker holds etcd to the standard it holds Capstan to.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { openEtcdStore } from '../../src/store/etcd/index.js';
import type { KV, WatchBatch } from '../../src/store/types.js';
import {
  checkLinearizable,
  checkReadRevisions,
  checkWatches,
  type KvOperation,
  type RevisionObservation,
  type RevisionedWrite,
  type UnacknowledgedWrite,
  type WatchEventRecord,
  type WatchSegment,
} from '../lincheck/index.js';
import { etcdSkipReason, etcdSuiteName, freshPrefix, startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const KEYS = ['k/0', 'k/1', 'k/2'];
const CLIENTS = 5;
const decoder = new TextDecoder();

/** Index of the member that leads now, asked through etcd's JSON gateway. */
async function leaderIndex(cluster: EtcdCluster): Promise<number | undefined> {
  for (let i = 0; i < cluster.members.length; i++) {
    if (!cluster.members[i].running()) continue;
    try {
      const res = await fetch(`${cluster.members[i].clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2000),
      });
      const body = (await res.json()) as { header: { member_id: string }; leader: string };
      if (body.header.member_id === body.leader) return i;
    } catch {
      // This member does not answer now: ask the next.
    }
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects a watch's batches as event records until stopped. */
function follow(kv: KV, fromRevision: number): { events: WatchEventRecord[]; stop: () => Promise<void>; last: () => number } {
  const events: WatchEventRecord[] = [];
  const watch = kv.watch('k/', { prefix: true, fromRevision });
  let last = fromRevision - 1;
  const done = (async () => {
    for await (const batch of watch as AsyncIterable<WatchBatch>) {
      for (const e of batch.events) {
        events.push({
          revision: batch.revision,
          key: e.kv.key,
          type: e.type,
          ...(e.type === 'put' ? { value: decoder.decode(e.kv.value) } : {}),
        });
      }
      last = batch.revision;
    }
  })();
  return {
    events,
    last: () => last,
    stop: async () => {
      watch.close();
      await done;
    },
  };
}

describe.skipIf(etcdSkipReason !== undefined)(etcdSuiteName('etcd 3-member cluster held to the history checkers'), () => {
  let cluster: EtcdCluster;
  const stores: KV[] = [];

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  });

  it('stays linearizable with clean watches while members stop and start', async () => {
    const prefix = freshPrefix('lin');
    const open = async (): Promise<KV> => {
      // A short deadline, so requests caught in an election end as unknown outcomes.
      const kv = await openEtcdStore({ endpoints: cluster.endpoints, prefix, timeoutMs: 1500 });
      stores.push(kv);
      return kv;
    };
    const admin = await open();
    const start = (await admin.revision()) + 1;
    const watchStore = await open();
    const steady = follow(watchStore, start);
    let resumed = follow(watchStore, start);
    let resumedFrom = start;
    const resumedSegments: WatchSegment[] = [];

    const history: KvOperation[] = [];
    const acknowledged: RevisionedWrite[] = [];
    const unacknowledged: UnacknowledgedWrite[] = [];
    const revisions: RevisionObservation[] = [];
    const t0 = performance.now();
    const now = (): number => performance.now() - t0;
    let running = true;

    const client = async (id: number): Promise<void> => {
      const kv = await open();
      const lastRead = new Map<string, string | undefined>();
      let n = 0;
      let seed = id * 7919 + 17;
      const random = (): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      };
      while (running) {
        const key = KEYS[Math.floor(random() * KEYS.length)];
        const value = `c${id}.${n++}`;
        const roll = random();
        const call = now();
        try {
          if (roll < 0.3) {
            const res = await kv.put(key, value);
            const ret = now();
            history.push({ client: id, op: 'put', input: { key, value }, output: { revision: res.revision }, call, ret });
            acknowledged.push({ key, revision: res.revision, type: 'put', value });
            revisions.push({ client: id, call, ret, revision: res.revision });
          } else if (roll < 0.65) {
            const res = await kv.range(key, { prefix: false });
            const ret = now();
            const read = res.kvs.length > 0 ? decoder.decode(res.kvs[0].value) : undefined;
            lastRead.set(key, read);
            history.push({ client: id, op: 'get', input: { key }, output: { value: read, revision: res.revision }, call, ret });
            revisions.push({ client: id, call, ret, revision: res.revision });
          } else if (roll < 0.93) {
            const expected = lastRead.get(key);
            const res = await kv.txn({
              compare: [
                expected === undefined
                  ? { key, target: 'version', op: '==', value: 0 }
                  : { key, target: 'value', op: '==', value: expected },
              ],
              success: [{ type: 'put', key, value }],
              failure: [],
            });
            const ret = now();
            history.push({ client: id, op: 'cas', input: { key, expected, value }, output: { ok: res.succeeded, revision: res.revision }, call, ret });
            if (res.succeeded) acknowledged.push({ key, revision: res.revision, type: 'put', value });
            revisions.push({ client: id, call, ret, revision: res.revision });
          } else {
            const res = await kv.delete(key);
            const ret = now();
            history.push({ client: id, op: 'delete', input: { key }, output: { deleted: res.deleted > 0, revision: res.revision }, call, ret });
            // Deleting nothing makes no revision and no event.
            if (res.deleted > 0) acknowledged.push({ key, revision: res.revision, type: 'delete' });
            revisions.push({ client: id, call, ret, revision: res.revision });
          }
        } catch {
          // No answer: the request may or may not have taken effect.
          if (roll < 0.3) {
            history.push({ client: id, op: 'put', input: { key, value }, call });
            unacknowledged.push({ key, type: 'put', value });
          } else if (roll < 0.65) {
            history.push({ client: id, op: 'get', input: { key }, call });
          } else if (roll < 0.93) {
            history.push({ client: id, op: 'cas', input: { key, expected: lastRead.get(key), value }, call });
            unacknowledged.push({ key, type: 'put', value });
          } else {
            history.push({ client: id, op: 'delete', input: { key }, call });
            unacknowledged.push({ key, type: 'delete' });
          }
          await sleep(50);
        }
      }
    };

    // Faults: stop the leader, start it again; stop a follower, start it again; once more the
    // leader. Never more than one member down, so a majority always remains.
    const down: Array<{ from: number; to: number }> = [];
    const faults = async (): Promise<string[]> => {
      const log: string[] = [];
      for (const target of ['leader', 'follower', 'leader'] as const) {
        await sleep(1000);
        const leader = await leaderIndex(cluster);
        const index = target === 'leader' ? (leader ?? 0) : ((leader ?? 0) + 1) % cluster.members.length;
        const member = cluster.members[index];
        await member.stop();
        const from = now();
        log.push(`stopped ${member.name} (${target})`);
        if (target === 'follower') {
          // Close the resumable watcher while a member is down, and resume right after the
          // last revision it saw.
          await resumed.stop();
          resumedSegments.push({ fromRevision: resumedFrom, events: resumed.events });
          resumedFrom = resumed.last() + 1;
          resumed = follow(watchStore, resumedFrom);
        }
        await sleep(2000);
        down.push({ from, to: now() });
        await member.start();
        log.push(`started ${member.name}`);
      }
      await sleep(500);
      return log;
    };

    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
    const faultLog = await faults();
    running = false;
    await Promise.all(clients);

    // Every member runs again; the watchers must catch up to the last revision.
    const end = await admin.revision();
    const deadline = Date.now() + 20_000;
    while ((steady.last() < end || resumed.last() < end) && Date.now() < deadline) await sleep(50);
    await steady.stop();
    await resumed.stop();
    resumedSegments.push({ fromRevision: resumedFrom, events: resumed.events });

    const completed = history.filter((op) => op.ret !== undefined).length;
    const summary = `${history.length} operations, ${completed} answered, ${acknowledged.length} acknowledged writes, revisions ${start}..${end}; ${faultLog.join(', ')}`;
    expect(completed, summary).toBeGreaterThan(100);
    expect(faultLog).toHaveLength(6);
    // With one member down the other two kept serving: writes were acknowledged meanwhile.
    for (const window of down) {
      const served = history.filter((op) => op.op !== 'get' && op.ret !== undefined && op.call >= window.from && op.ret <= window.to);
      expect(served.length, `${summary}; writes answered while a member was down ${JSON.stringify(window)}`).toBeGreaterThan(0);
    }

    const result = checkLinearizable(history);
    if (result.outcome === 'violation') throw new Error(`${summary}\n${result.counterexample.text}`);
    expect(result.outcome, summary).toBe('ok');

    const watches = checkWatches({
      acknowledged,
      unacknowledged,
      watchers: [
        { watcher: 'steady', key: 'k/', prefix: true, segments: [{ fromRevision: start, events: steady.events }], until: end },
        { watcher: 'resumed', key: 'k/', prefix: true, segments: resumedSegments, until: end },
      ],
    });
    expect(watches.violations, summary).toEqual([]);
    expect(steady.events.length).toBeGreaterThanOrEqual(acknowledged.length);

    const reads = checkReadRevisions(revisions, { realTime: true });
    expect(reads.violations, summary).toEqual([]);

    // The checker is not vacuous on this history: a read after everything that returns a
    // value overwritten before the overwriting write was even sent must be caught.
    const lastPut = [...history].reverse().find((op) => op.op === 'put' && op.ret !== undefined) as KvOperation;
    const older = history.find(
      (op) => op.op === 'put' && op.ret !== undefined && op.input.key === lastPut.input.key && op.ret < lastPut.call,
    );
    expect(older, 'an earlier acknowledged put of the same key').toBeDefined();
    const finish = Math.max(...history.map((op) => op.ret ?? op.call)) + 1;
    const stale: KvOperation = {
      client: 'stale',
      op: 'get',
      input: { key: lastPut.input.key },
      output: { value: older?.op === 'put' ? older.input.value : undefined },
      call: finish,
      ret: finish + 1,
    };
    const tampered = checkLinearizable([...history, stale]);
    if (tampered.outcome !== 'violation') throw new Error(`stale read not caught: ${JSON.stringify(tampered)}`);
    const c = tampered.counterexample;
    expect(c.last.index).toBe(history.length);
    expect([...c.involved, ...c.writers].map((i) => i.index)).toContain(history.indexOf(older as KvOperation));
  });
});
