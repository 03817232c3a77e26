// Raft group benchmark: 3 Capstan members against 3 etcd members, all on 127.0.0.1, in one
// run on one machine, both driven by the same harness. 8-byte keys, 256-byte values.
//   - sequential puts from one client: latency p50/p99
//   - puts from 100 concurrent clients: throughput and p99
//   - linearizable and serializable reads: sequential latency and 100-client throughput
//   - failover: time from kill -9 of the leader until the two others agree on a new one
// etcd's client gets the leader's endpoint and talks gRPC to it over loopback. Capstan is
// measured twice, with the harness inside one member and the two others as child processes:
//   - client in the leader's process: no client-to-server hop (etcd's figures carry one);
//   - client in a follower's process, the leader being another process: every write and
//     every linearizable read crosses one network hop to the leader, as etcd's do (plus
//     the follower applying the write before answering); serializable reads stay local.
// The table labels each Capstan row with where its client ran.
// Usage (after npm run build): node bench/store-group.mjs [--quick]
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';
import { fmt, machineLine, markdownTable } from './lib/report.mjs';
import { concurrent, now, percentile, rate, sequential } from './lib/stats.mjs';

const SELF = fileURLToPath(import.meta.url);
const TOKEN = 'bench-cluster-token-0123456789abcdef';
const TICK_MS = 50;
const VALUE = randomBytes(256);
const key8 = (ns, i) => `${ns}${i.toString(16).padStart(7, '0')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const gc = () => globalThis.gc?.();

// ---- the harness ----

// A member child process (`--member ...`, below) takes positional arguments, not options.
const { quick } =
  process.argv[2] === '--member'
    ? { quick: false }
    : parseOptions('bench/store-group.mjs', 'A 3-member Capstan group against a 3-member etcd cluster: puts, reads and failover.', {
        quick: { type: 'flag', help: 'smaller sizes (a quick check, not figures to quote)' },
      });
const SIZES = {
  seqPuts: quick ? 300 : 2_000,
  concPuts: quick ? 3_000 : 20_000,
  clients: 100,
  seqReads: quick ? 300 : 2_000,
  concReads: quick ? 3_000 : 20_000,
  failovers: quick ? 2 : 3,
};

/** `ops`: put(key, value), lin(key), ser(key). */
async function measure(name, ops) {
  const r = {};
  console.error(`  ${name}: sequential puts`);
  for (let i = 0; i < 50; i++) await ops.put(key8('w', i), VALUE);
  let run = await sequential(SIZES.seqPuts, (i) => ops.put(key8('s', i), VALUE));
  r.seqPutP50 = percentile(run.latencies, 50);
  r.seqPutP99 = percentile(run.latencies, 99);
  gc();
  console.error(`  ${name}: concurrent puts`);
  run = await concurrent(SIZES.concPuts, SIZES.clients, (i) => ops.put(key8('c', i), VALUE));
  r.concPutRate = rate(SIZES.concPuts, run.totalMs);
  r.concPutP99 = percentile(run.latencies, 99);
  gc();
  for (const mode of ['lin', 'ser']) {
    console.error(`  ${name}: ${mode === 'lin' ? 'linearizable' : 'serializable'} reads`);
    run = await sequential(SIZES.seqReads, (i) => ops[mode](key8('s', i % SIZES.seqPuts)));
    r[`${mode}GetP50`] = percentile(run.latencies, 50);
    r[`${mode}GetP99`] = percentile(run.latencies, 99);
    run = await concurrent(SIZES.concReads, SIZES.clients, (i) => ops[mode](key8('c', i % SIZES.concPuts)));
    r[`${mode}GetRate`] = rate(SIZES.concReads, run.totalMs);
    gc();
  }
  return r;
}

// ---- etcd ----

async function etcdStatus(clientUrl) {
  const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
  const s = await res.json();
  return { id: s.header?.member_id, leader: s.leader };
}

async function etcdLeader(cluster, candidates = cluster.members) {
  for (;;) {
    const seen = await Promise.all(candidates.map((m) => etcdStatus(m.clientUrl).catch(() => undefined)));
    const leaders = new Set(seen.map((s) => s?.leader));
    if (leaders.size === 1 && seen[0]?.leader && seen[0].leader !== '0') {
      const i = seen.findIndex((s) => s.id === seen[0].leader);
      if (i >= 0 || candidates !== cluster.members) return { id: seen[0].leader, member: candidates[i] };
    }
    await sleep(20);
  }
}

/** The pid of the etcd process serving `dataDir` (started by this benchmark). */
function etcdPid(dataDir) {
  const out = execFileSync('pgrep', ['-P', String(process.pid), '-f', '--', `--data-dir ${dataDir}`], { encoding: 'utf8' }).trim().split('\n')[0];
  return Number(out);
}

async function runEtcd() {
  const { openEtcdStore, startEtcdCluster, etcdUnavailableReason } = await import('../dist/store/etcd/index.js');
  const { Etcd3 } = await import('etcd3');
  const reason = etcdUnavailableReason();
  if (reason) throw new Error(reason);
  const cluster = await startEtcdCluster({ members: 3 });
  let kv;
  let raw;
  try {
    const { member: leader } = await etcdLeader(cluster);
    kv = await openEtcdStore({ endpoints: [leader.clientUrl], timeoutMs: 30_000 });
    raw = new Etcd3({ hosts: [leader.clientUrl] });
    const range = (key, serializable) => raw.kv.range({ key: Buffer.from(key), serializable });
    const r = await measure('etcd', {
      put: (k, v) => kv.put(k, v),
      lin: (k) => range(k, false),
      ser: (k) => range(k, true),
    });
    raw.close();
    raw = undefined;
    await kv.close();
    kv = undefined;
    const times = [];
    for (let round = 0; round < SIZES.failovers; round++) {
      console.error(`  etcd: failover ${round + 1}`);
      const { id, member } = await etcdLeader(cluster);
      const survivors = cluster.members.filter((m) => m !== member);
      const t = now();
      process.kill(etcdPid(member.dataDir), 'SIGKILL');
      for (;;) {
        const seen = await Promise.all(survivors.map((m) => etcdStatus(m.clientUrl).catch(() => undefined)));
        if (seen.every((s) => s && s.leader && s.leader !== '0' && s.leader !== id && s.leader === seen[0].leader)) break;
        await sleep(5);
      }
      times.push(now() - t);
      await member.stop();
      await member.start();
      await sleep(1000);
    }
    r.failover = percentile(times, 50);
    return r;
  } finally {
    raw?.close();
    await kv?.close();
    await cluster.stop();
  }
}

// ---- Capstan ----

async function freePort() {
  const { freePort: fp } = await import('../dist/store/etcd/index.js');
  return fp();
}

async function capstanPeers() {
  const peers = [];
  for (const name of ['a', 'b', 'c']) peers.push({ name, url: `http://127.0.0.1:${await freePort()}` });
  return peers;
}

function startChild(name, peers, dir, electionTicks) {
  const child = fork(SELF, ['--member', name, JSON.stringify(peers), join(dir, name), String(electionTicks)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve, reject) => {
    child.once('message', (m) => (m?.ready ? resolve(m.clusterId) : reject(new Error('member failed'))));
    child.once('exit', (code) => reject(new Error(`member ${name} exited with ${code}`)));
  });
  return { name, child, ready };
}

async function capstanStatus(peerUrl, clusterId) {
  const res = await fetch(`${peerUrl}/raft/v1/status`, {
    headers: { authorization: `Bearer ${TOKEN}`, 'x-capstan-cluster': clusterId, 'x-capstan-member': '0' },
    signal: AbortSignal.timeout(1000),
  });
  return res.json();
}

async function runCapstan() {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-bench-group-'));
  try {
    const onLeader = await capstanGroup(join(dir, 'leader'), 'leader');
    const onFollower = await capstanGroup(join(dir, 'follower'), 'follower');
    const failover = await capstanFailover(dir);
    return { onLeader, onFollower, failover };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One group of three with the harness inside member a; `role` is where a should be. Election
 * timeouts steer it: the side that should lead gets the short one (10 ticks against 40).
 */
async function capstanGroup(dir, role) {
  const { openClusterStore } = await import('../dist/store/cluster/index.js');
  const children = [];
  let a;
  try {
    const peers = await capstanPeers();
    const [mine, theirs] = role === 'leader' ? [10, 40] : [40, 10];
    children.push(startChild('b', peers, dir, theirs), startChild('c', peers, dir, theirs));
    a = await openClusterStore({ name: 'a', peers, token: TOKEN, dir: join(dir, 'a'), tickMs: TICK_MS, electionTicks: mine });
    await Promise.all(children.map((c) => c.ready));
    const deadline = now() + 20_000;
    const placed = () => a.member.leader !== undefined && a.member.isLeader === (role === 'leader');
    while (!placed() && now() < deadline) await sleep(20);
    const name = `capstan, client in the ${role}`;
    if (!placed()) console.error(`  ${name}: member a is not where it should be (leader: ${a.member.isLeader})`);
    const r = await measure(name, {
      put: (k, v) => a.kv.put(k, v),
      lin: (k) => a.kv.get(k),
      ser: (k) => a.serializable.get(k),
    });
    r.placed = placed();
    return r;
  } finally {
    await a?.close();
    for (const c of children) c.child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.child.exitCode !== null || c.child.signalCode !== null ? undefined : new Promise((res) => c.child.once('exit', res)))));
  }
}

async function capstanFailover(root) {
  const dir = join(root, 'failover');
  const peers = await capstanPeers();
  const members = new Map(peers.map((p) => [p.name, startChild(p.name, peers, dir, 10)]));
  const clusterId = (await Promise.all([...members.values()].map((m) => m.ready)))[0];
  const idOf = new Map();
  const times = [];
  const agreed = async (names, not) => {
    const seen = await Promise.all(names.map((n) => capstanStatus(peers.find((p) => p.name === n).url, clusterId).catch(() => undefined)));
    for (const [i, s] of seen.entries()) if (s) idOf.set(s.id, names[i]);
    const leader = seen[0]?.leader;
    return leader && leader !== not && seen.every((s) => s && s.leader === leader) ? leader : undefined;
  };
  try {
    for (let round = 0; round < SIZES.failovers; round++) {
      console.error(`  capstan: failover ${round + 1}`);
      let leader;
      while (!(leader = await agreed([...members.keys()]))) await sleep(20);
      await sleep(300);
      leader = await agreed([...members.keys()]);
      const name = idOf.get(leader);
      const victim = members.get(name);
      const survivors = [...members.keys()].filter((n) => n !== name);
      const t = now();
      victim.child.kill('SIGKILL');
      while (!(await agreed(survivors, leader))) await sleep(5);
      times.push(now() - t);
      await new Promise((r) => (victim.child.exitCode !== null || victim.child.signalCode !== null ? r() : victim.child.once('exit', r)));
      const again = startChild(name, peers, dir, 10);
      members.set(name, again);
      await again.ready;
      await sleep(1000);
    }
  } finally {
    for (const m of members.values()) m.child.kill('SIGKILL');
  }
  return percentile(times, 50);
}

// ---- report ----

const ROWS = [
  ['sequential put, 1 client', 'p50 latency (ms)', 'seqPutP50', 'lower', 2],
  ['sequential put, 1 client', 'p99 latency (ms)', 'seqPutP99', 'lower', 2],
  [`put, ${SIZES.clients} concurrent clients`, 'throughput (puts/s)', 'concPutRate', 'higher', 0],
  [`put, ${SIZES.clients} concurrent clients`, 'p99 latency (ms)', 'concPutP99', 'lower', 2],
  ['linearizable get, 1 client', 'p50 latency (ms)', 'linGetP50', 'lower', 3],
  ['linearizable get, 1 client', 'p99 latency (ms)', 'linGetP99', 'lower', 3],
  [`linearizable get, ${SIZES.clients} clients`, 'throughput (reads/s)', 'linGetRate', 'higher', 0],
  ['serializable get, 1 client', 'p50 latency (ms)', 'serGetP50', 'lower', 3],
  ['serializable get, 1 client', 'p99 latency (ms)', 'serGetP99', 'lower', 3],
  [`serializable get, ${SIZES.clients} clients`, 'throughput (reads/s)', 'serGetRate', 'higher', 0],
  ['kill -9 of the leader', 'median time to a new agreed leader (ms)', 'failover', 'lower', 0],
];

const ratioText = (r) => `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;

const CLIENTS = [
  ['onLeader', 'in the leader (no hop)'],
  ['onFollower', 'in a follower (1 hop to the leader)'],
];

/** One row per workload and Capstan client placement; etcd's client always has one gRPC hop. */
export function groupTable(capstan, etcd) {
  const rows = [];
  for (const [workload, metric, k, better, digits] of ROWS) {
    const row = (client, c) => [workload, metric, client, c === undefined ? 'not run' : fmt(c, digits), fmt(etcd[k], digits), c === undefined ? 'n/a' : ratioText(c / etcd[k]), `${better} is better`];
    if (k === 'failover') rows.push(row('(no client)', capstan?.failover));
    else for (const [side, label] of CLIENTS) rows.push(row(k.startsWith('ser') && side === 'onFollower' ? 'in a follower (local read)' : label, capstan?.[side]?.[k]));
  }
  return markdownTable(['workload', 'metric', 'Capstan client', 'Capstan ×3', 'etcd ×3', 'Capstan ÷ etcd', ''], rows, ['l', 'l', 'l', 'r', 'r', 'r', 'l']);
}

export async function run() {
  const started = now();
  console.error('store-group bench: etcd, 3 members on 127.0.0.1');
  const etcd = await runEtcd();
  console.error('store-group bench: Capstan, 3 members on 127.0.0.1');
  const capstan = await runCapstan();
  return [
    '### Store: a Raft group of 3 Capstan members vs 3 etcd members',
    '',
    machineLine(),
    '',
    `8-byte keys, 256-byte values; ${fmt(SIZES.seqPuts)} sequential puts, ${fmt(SIZES.concPuts)} puts from ${SIZES.clients} concurrent clients, ` +
      `${fmt(SIZES.seqReads)} sequential and ${fmt(SIZES.concReads)} concurrent reads of each kind, ${SIZES.failovers} leader kills each. ` +
      'All six members on 127.0.0.1 with fsync on, data on the same disk. The etcd client talks gRPC to the leader over loopback. The Capstan client runs ' +
      'inside one member, twice: in the leader (no client-to-server hop, so not like for like) and in a follower whose leader is another process ' +
      '(each write and linearizable read crosses one HTTP hop to the leader, as etcd\'s cross one gRPC hop, and the follower applies the write before answering; ' +
      'serializable reads are served locally with no hop, where etcd\'s still cross one)' +
      `${capstan.onLeader.placed && capstan.onFollower.placed ? '' : ' (this run: a member was not where intended; see stderr)'}. ` +
      `Capstan: heartbeat ${TICK_MS} ms, election timeout ${10 * TICK_MS}-${20 * TICK_MS} ms; etcd: its defaults (100 ms, 1,000 ms). Whole run: ${((now() - started) / 1000).toFixed(0)} s.`,
    '',
    groupTable(capstan, etcd),
  ].join('\n');
}

// ---- child mode: one Capstan member in its own process ----

if (process.argv[2] === '--member') {
  const [name, peersJson, dir, electionTicks] = process.argv.slice(3);
  const { openClusterStore } = await import('../dist/store/cluster/index.js');
  const store = await openClusterStore({ name, peers: JSON.parse(peersJson), token: TOKEN, dir, tickMs: TICK_MS, electionTicks: Number(electionTicks) });
  process.send?.({ ready: true, clusterId: store.clusterId });
  const stop = async () => {
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
} else if (process.argv[1] === SELF) {
  console.log(await run());
}
