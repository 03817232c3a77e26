// A Raft group of three members in one process, talking over real sockets on 127.0.0.1:
// the KV contract through a follower, elections, failover, forwarding, restart from the WAL,
// and peers refused for a wrong token or another cluster id.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { openClusterStore, type ClusterStore, type PeerSpec } from '../../src/store/cluster/index.js';
import { freePort } from '../../src/store/etcd/local.js';
import { runContractSuite } from './contract.js';

const TOKEN = 'test-cluster-token-0123456789';

interface Group {
  peers: PeerSpec[];
  dirs: Map<string, string>;
  stores: Map<string, ClusterStore>;
  open(name: string): Promise<ClusterStore>;
  leader(): Promise<ClusterStore>;
  stop(): Promise<void>;
}

async function startGroup(names = ['a', 'b', 'c'], onDisk = true): Promise<Group> {
  const peers: PeerSpec[] = [];
  for (const name of names) peers.push({ name, url: `http://127.0.0.1:${await freePort()}` });
  const root = await mkdtemp(join(tmpdir(), 'capstan-cluster-'));
  const dirs = new Map(names.map((n) => [n, join(root, n)]));
  const stores = new Map<string, ClusterStore>();
  const group: Group = {
    peers,
    dirs,
    stores,
    async open(name) {
      const s = await openClusterStore({ name, peers, token: TOKEN, ...(onDisk ? { dir: dirs.get(name)! } : {}), tickMs: 20, electionTicks: 10, snapshotEvery: 200 });
      stores.set(name, s);
      return s;
    },
    async leader() {
      return waitFor(() => [...stores.values()].find((s) => !s.member.closed && s.member.isLeader && agreed(stores)), 'a leader');
    },
    async stop() {
      for (const s of stores.values()) await s.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  await Promise.all(names.map((n) => group.open(n)));
  return group;
}

/** Every open member agrees on the leader. */
function agreed(stores: Map<string, ClusterStore>): boolean {
  const open = [...stores.values()].filter((s) => !s.member.closed);
  const leaders = new Set(open.map((s) => s.member.leader));
  return leaders.size === 1 && !leaders.has(undefined);
}

async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString('utf8') : undefined);

// The whole contract, every request sent to a follower (forwarded writes, ReadIndex reads).
{
  let group: Group;
  runContractSuite('Raft group of 3, through a follower', async () => {
    group = await startGroup(['a', 'b', 'c']);
    const leader = await group.leader();
    const follower = [...group.stores.values()].find((s) => s !== leader)!;
    return { kv: follower.kv, cleanup: () => group.stop() };
  });
}

describe('Raft group over 127.0.0.1', () => {
  let group: Group | undefined;
  afterEach(async () => {
    await group?.stop();
    group = undefined;
  });

  it('elects one leader, replicates writes to every member and serves linearizable reads on followers', async () => {
    group = await startGroup();
    const leader = await group.leader();
    const followers = [...group.stores.values()].filter((s) => s !== leader);
    const put = await followers[0]!.kv.put('/k', 'v1');
    expect(put.revision).toBeGreaterThan(0);
    // Linearizable: the other follower sees the write at once, without waiting.
    expect(text((await followers[1]!.kv.get('/k'))?.value)).toBe('v1');
    for (const s of group.stores.values()) {
      await waitFor(async () => text((await s.serializable.get('/k'))?.value) === 'v1', `replication to ${s.member.name}`);
    }
    const statuses = [...group.stores.values()].map((s) => s.member.status());
    expect(statuses.filter((s) => s.role === 'leader')).toHaveLength(1);
    expect(new Set(statuses.map((s) => s.leader)).size).toBe(1);
  });

  it('elects a new leader when the leader is cut off, keeps serving through a follower, and the old leader rejoins', async () => {
    group = await startGroup();
    const first = await group.leader();
    await first.kv.put('/before', 'x');
    const t0 = Date.now();
    first.member.setIsolated(true);
    const others = new Map([...group.stores].filter(([, s]) => s !== first));
    const second = await waitFor(() => [...others.values()].find((s) => s.member.isLeader && agreed(others)), 'a new leader');
    // A few election timeouts (10-20 ticks of 20 ms), with room for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(10_000);
    const follower = [...others.values()].find((s) => s !== second)!;
    const r = await follower.kv.put('/after', 'y');
    expect(r.revision).toBeGreaterThan(0);
    expect(text((await second.kv.get('/after'))?.value)).toBe('y');
    // Healed: the old leader steps down and catches up.
    first.member.setIsolated(false);
    await waitFor(async () => !first.member.isLeader && text((await first.serializable.get('/after'))?.value) === 'y', 'the old leader to catch up');
    expect(text((await first.kv.get('/before'))?.value)).toBe('x');
  });

  it('answers writes on a cut-off minority member with an error, never a false success', async () => {
    group = await startGroup();
    const leader = await group.leader();
    const follower = [...group.stores.values()].find((s) => s !== leader)!;
    follower.member.setIsolated(true);
    const err = await follower.kv.put('/lost', 'z').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapstanError(err)).toBe(true);
    follower.member.setIsolated(false);
    expect(await leader.kv.get('/lost')).toBeUndefined();
  }, 60_000);

  it('restarts a member from its WAL; it catches up on what it missed', async () => {
    group = await startGroup();
    const leader = await group.leader();
    const victim = [...group.stores.values()].find((s) => s !== leader)!;
    const name = victim.member.name;
    for (let i = 0; i < 50; i++) await leader.kv.put(`/w/${i}`, `v${i}`);
    await waitFor(async () => (await victim.serializable.range('/w/')).count === 50, 'replication before the restart');
    await victim.close();
    // Past several snapshots while it is down.
    for (let i = 50; i < 500; i++) await leader.kv.put(`/w/${i}`, `v${i}`);
    const back = await group.open(name);
    await waitFor(async () => (await back.serializable.range('/w/')).count === 500, 'the restarted member to catch up');
    expect(text((await back.kv.get('/w/499'))?.value)).toBe('v499');
    // It applied the same history: same revision everywhere.
    const rev = await leader.kv.revision();
    await waitFor(async () => (await back.serializable.revision()) === rev, 'the same revision');
  });

  it('adds a member as a learner that catches up from a snapshot and is promoted, then removes one', async () => {
    group = await startGroup();
    const leader = await group.leader();
    for (let i = 0; i < 300; i++) await leader.kv.put(`/m/${i}`, `v${i}`);
    const follower = [...group.stores.values()].find((s) => s !== leader)!;
    const url = `http://127.0.0.1:${await freePort()}`;
    // Asked of a follower: forwarded to the leader.
    await follower.member.changeMembership({ op: 'add', name: 'd', url });
    expect(leader.member.status().members.find((m) => m.name === 'd')).toMatchObject({ voter: false, peerUrl: url });
    const d = await openClusterStore({
      name: 'd',
      peers: [...group.peers, { name: 'd', url }],
      join: true,
      clusterId: leader.clusterId,
      token: TOKEN,
      dir: join(group.dirs.get('a')!, '..', 'd'),
      tickMs: 20,
      snapshotEvery: 200,
    });
    group.stores.set('d', d);
    await waitFor(() => leader.member.status().members.find((m) => m.name === 'd')?.voter === true, 'd promoted to voter');
    await waitFor(async () => (await d.serializable.range('/m/')).count === 300, 'd to hold the data');
    // A write through the new member, read on the old leader.
    await d.kv.put('/from-d', 'hello');
    expect(text((await leader.kv.get('/from-d'))?.value)).toBe('hello');
    // Remove a follower that is not d: the group of a, b, c, d shrinks to three.
    const gone = [...group.stores.values()].find((s) => s !== leader && s !== d)!;
    await d.member.changeMembership({ op: 'remove', name: gone.member.name });
    await waitFor(() => !leader.member.status().members.some((m) => m.name === gone.member.name), 'the removal');
    await gone.close();
    group.stores.delete(gone.member.name);
    const r = await leader.kv.put('/after-remove', 'ok');
    expect(r.revision).toBeGreaterThan(0);
    const refused = await leader.member.changeMembership({ op: 'add', name: 'd', url }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapstanError(refused, 'CAPSTAN_ERR_CONFIG_INVALID')).toBe(true);
  });

  it('a member left without a quorum shuts down within its grace: waiting and new requests fail with a clear error', async () => {
    group = await startGroup(['a', 'b', 'c'], false);
    const leader = await group.leader();
    for (const s of [...group.stores.values()].filter((x) => x !== leader)) await s.close();
    const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
    // No quorum: this write waits (for a commit, or for a leader) up to the 10 s request timeout.
    const waiting = errorOf(leader.kv.put('/no-quorum', 'x'));
    const reading = errorOf(leader.kv.get('/no-quorum'));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    leader.member.drain(1000);
    const [w, r] = await Promise.all([waiting, reading]);
    for (const err of [w, r]) {
      expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_CLOSED'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/shutting down/);
    }
    expect(Date.now() - started).toBeLessThan(5000);
    // Once the grace is over, new requests fail at once instead of waiting.
    const late = Date.now();
    expect(isCapstanError(await errorOf(leader.kv.put('/late', 'y')), 'CAPSTAN_ERR_STORE_CLOSED')).toBe(true);
    expect(Date.now() - late).toBeLessThan(1000);
    await leader.close();
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('refuses a member with a wrong token or another cluster id, and the error says so', async () => {
    group = await startGroup(['a', 'b', 'c'], false);
    const leader = await group.leader();
    // A follower's place taken by a member of another cluster (different cluster name → different id).
    const victim = [...group.stores.values()].find((s) => s !== leader)!;
    const name = victim.member.name;
    await victim.close();
    const strangerPeers = group.peers;
    const stranger = await openClusterStore({ name, peers: strangerPeers, token: TOKEN, clusterName: 'other', tickMs: 20 });
    group.stores.set(name, stranger);
    const mismatch = await stranger.member.peerStatus(leader.member.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapstanError(mismatch, 'CAPSTAN_ERR_STORE_CLUSTER_MISMATCH')).toBe(true);
    expect(String((mismatch as Error).message)).toMatch(/another|cluster/);
    await stranger.close();
    const badToken = await openClusterStore({ name, peers: strangerPeers, token: 'wrong-token-wrong-token', tickMs: 20 });
    group.stores.set(name, badToken);
    const refused = await badToken.member.peerStatus(leader.member.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapstanError(refused, 'CAPSTAN_ERR_STORE_AUTH')).toBe(true);
    // The refused member never joined: it cannot win or disturb the group.
    await new Promise((r) => setTimeout(r, 500));
    expect(badToken.member.isLeader).toBe(false);
    expect(leader.member.isLeader).toBe(true);
  });
});

afterAll(() => undefined);
