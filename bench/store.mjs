// Store benchmark: the embedded store (on disk, in a temp dir) against a single etcd member
// started here on 127.0.0.1 (default settings, fsync on), both driven by the same harness
// through the KV contract, in one run on one machine. 8-byte keys, 256-byte values.
//   - sequential puts from one client: latency p50/p99
//   - puts from 100 concurrent clients: throughput
//   - linearizable reads of one key: sequential latency and 100-client throughput
//   - watch fan-out: 1,000 watchers on one key, time from a put until all saw it
// Prints a Markdown table with each figure and its ratio to etcd's.
// Usage (after npm run build): node bench/store.mjs [--quick]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';
import { fmt, machineLine, markdownTable } from './lib/report.mjs';
import { concurrent, now, percentile, rate, sequential } from './lib/stats.mjs';
import { openEtcdStore, startEtcdCluster, etcdUnavailableReason } from '../dist/store/etcd/index.js';

const { quick } = parseOptions('bench/store.mjs', 'The embedded store against a single etcd member: puts, reads and watch fan-out.', {
  quick: { type: 'flag', help: 'smaller sizes (a quick check, not figures to quote)' },
});
const SIZES = {
  seqPuts: quick ? 300 : 2_000,
  concPuts: quick ? 2_000 : 20_000,
  clients: 100,
  seqReads: quick ? 300 : 2_000,
  concReads: quick ? 2_000 : 20_000,
  watchers: 1_000,
  fanoutPuts: quick ? 10 : 50,
};

const VALUE = randomBytes(256);
/** An 8-byte key: a one-letter namespace and 7 hex digits. */
const key8 = (ns, i) => `${ns}${i.toString(16).padStart(7, '0')}`;
const gc = () => globalThis.gc?.();

async function fanout(kv, watchers, puts) {
  const key = 'fanout00';
  const arrivals = new Map();
  const doneAt = new Map();
  const waiting = new Map();
  const onBatch = (revision) => {
    const n = (arrivals.get(revision) ?? 0) + 1;
    arrivals.set(revision, n);
    if (n === watchers) {
      doneAt.set(revision, now());
      waiting.get(revision)?.();
    }
  };
  const allSaw = (revision) =>
    doneAt.has(revision) ? Promise.resolve() : new Promise((resolve) => waiting.set(revision, resolve));
  const handles = [];
  const loops = [];
  for (let i = 0; i < watchers; i++) {
    const w = kv.watch(key);
    handles.push(w);
    loops.push(
      (async () => {
        for await (const batch of w) onBatch(batch.revision);
      })(),
    );
  }
  // Warm up: every watcher has seen one event before timing starts.
  for (let i = 0; i < 2; i++) await allSaw((await kv.put(key, VALUE)).revision);
  const latencies = [];
  for (let i = 0; i < puts; i++) {
    const t = now();
    const { revision } = await kv.put(key, VALUE);
    await allSaw(revision);
    latencies.push(doneAt.get(revision) - t);
  }
  for (const w of handles) w.close();
  await Promise.all(loops);
  return latencies;
}

async function measure(name, kv) {
  const r = {};
  console.error(`  ${name}: sequential puts`);
  // A short warm-up so connection setup and JIT are not in the numbers.
  for (let i = 0; i < 50; i++) await kv.put(key8('w', i), VALUE);
  let run = await sequential(SIZES.seqPuts, (i) => kv.put(key8('s', i), VALUE));
  r.seqPutP50 = percentile(run.latencies, 50);
  r.seqPutP99 = percentile(run.latencies, 99);
  r.seqPutRate = rate(SIZES.seqPuts, run.totalMs);
  gc();
  console.error(`  ${name}: concurrent puts`);
  run = await concurrent(SIZES.concPuts, SIZES.clients, (i) => kv.put(key8('c', i), VALUE));
  r.concPutRate = rate(SIZES.concPuts, run.totalMs);
  r.concPutP99 = percentile(run.latencies, 99);
  gc();
  console.error(`  ${name}: reads`);
  run = await sequential(SIZES.seqReads, (i) => kv.get(key8('s', i % SIZES.seqPuts)));
  r.seqGetP50 = percentile(run.latencies, 50);
  r.seqGetP99 = percentile(run.latencies, 99);
  run = await concurrent(SIZES.concReads, SIZES.clients, (i) => kv.range(key8('c', i % SIZES.concPuts), { prefix: false }));
  r.concGetRate = rate(SIZES.concReads, run.totalMs);
  gc();
  console.error(`  ${name}: watch fan-out`);
  const fan = await fanout(kv, SIZES.watchers, SIZES.fanoutPuts);
  r.fanP50 = percentile(fan, 50);
  r.fanP99 = percentile(fan, 99);
  gc();
  return r;
}

async function withEtcd(fn) {
  const reason = etcdUnavailableReason();
  if (reason) throw new Error(reason);
  const cluster = await startEtcdCluster({ members: 1 });
  let kv;
  try {
    kv = await openEtcdStore({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
    return await fn(kv);
  } finally {
    await kv?.close();
    await cluster.stop();
  }
}

/** The embedded store from dist/, or undefined while it does not exist yet. */
async function loadEmbedded() {
  try {
    const mod = await import('../dist/store/index.js');
    return typeof mod.openEmbeddedStore === 'function' ? mod.openEmbeddedStore : undefined;
  } catch {
    return undefined;
  }
}

async function withEmbedded(openEmbeddedStore, fn) {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-bench-store-'));
  let kv;
  try {
    kv = await openEmbeddedStore({ dir });
    return await fn(kv);
  } finally {
    await kv?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const ROWS = [
  ['sequential put, 1 client', 'p50 latency (ms)', 'seqPutP50', 'lower', 2],
  ['sequential put, 1 client', 'p99 latency (ms)', 'seqPutP99', 'lower', 2],
  ['sequential put, 1 client', 'throughput (puts/s)', 'seqPutRate', 'higher', 0],
  [`put, ${SIZES.clients} concurrent clients`, 'throughput (puts/s)', 'concPutRate', 'higher', 0],
  [`put, ${SIZES.clients} concurrent clients`, 'p99 latency (ms)', 'concPutP99', 'lower', 2],
  ['linearizable get, 1 client', 'p50 latency (ms)', 'seqGetP50', 'lower', 3],
  ['linearizable get, 1 client', 'p99 latency (ms)', 'seqGetP99', 'lower', 3],
  [`linearizable range of one key, ${SIZES.clients} clients`, 'throughput (reads/s)', 'concGetRate', 'higher', 0],
  [`watch fan-out, ${fmt(SIZES.watchers)} watchers`, 'p50 put → all notified (ms)', 'fanP50', 'lower', 2],
  [`watch fan-out, ${fmt(SIZES.watchers)} watchers`, 'p99 put → all notified (ms)', 'fanP99', 'lower', 2],
];

// Two decimals, or two significant digits for small ratios (0.0012x rather than 0.00x).
const ratioText = (r) => `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;

export function storeTable(embedded, etcd) {
  const rows = ROWS.map(([workload, metric, k, better, digits]) => {
    const e = embedded?.[k];
    const ratio = e === undefined ? 'n/a' : ratioText(e / etcd[k]);
    return [workload, metric, e === undefined ? 'not run' : fmt(e, digits), fmt(etcd[k], digits), ratio, `${better} is better`];
  });
  return markdownTable(['workload', 'metric', 'embedded', 'etcd', 'embedded ÷ etcd', ''], rows, ['l', 'l', 'r', 'r', 'r', 'l']);
}

export async function run() {
  const started = now();
  console.error('store bench: etcd (single member, 127.0.0.1)');
  const etcd = await withEtcd((kv) => measure('etcd', kv));
  const openEmbedded = await loadEmbedded();
  let embedded;
  if (openEmbedded) {
    console.error('store bench: embedded (single member, on disk)');
    embedded = await withEmbedded(openEmbedded, (kv) => measure('embedded', kv));
  } else {
    console.error('store bench: dist/store/index.js has no openEmbeddedStore yet, embedded column skipped');
  }
  const lines = [
    '### Store: embedded vs etcd, through the KV contract',
    '',
    machineLine(),
    '',
    `8-byte keys, 256-byte values; ${fmt(SIZES.seqPuts)} sequential puts, ${fmt(SIZES.concPuts)} puts from ${SIZES.clients} concurrent clients, ` +
      `${fmt(SIZES.seqReads)} sequential and ${fmt(SIZES.concReads)} concurrent reads, ${fmt(SIZES.fanoutPuts)} puts to ${fmt(SIZES.watchers)} watchers. ` +
      `Both stores in one Node process with one client object each; data on the same disk. Whole run: ${((now() - started) / 1000).toFixed(0)} s.`,
    '',
    storeTable(embedded, etcd),
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await run());
}
