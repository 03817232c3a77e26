// Scheduler throughput on 5,000 nodes. First the node-filter-only workload (node selectors,
// node affinity, taints, host ports; 50,000 and 150,000 pods) against a naive scheduler (below)
// that filters and scores every node for every pod; then three workloads of the rest of the
// scheduler, each timed on its own: required anti-affinity (one per zone or one per host),
// topology spread over 3 zones, and 10% high-priority pods preempting on a full cluster.
// Prints Markdown tables; run after the build:
//   npm run build && node bench/scheduler.mjs [--pods 50000,150000] [--naive-pods 5000] [--workload-pods 50000]
// --naive-pods bounds the naive run, which costs nodes x pods filter calls (minutes for the
// full workload); it times the first N pods of the same sequence, and its cost per pod does
// not fall as the cluster fills, so the prefix rate is, if anything, flattering to it.
// Rates are given by wall clock and by this process's CPU time: on a shared machine other
// work steals the core, and the CPU-time rate is what the code itself costs.

import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Scheduler, seededRandom } from '../dist/scheduler/index.js';
import { parseOptions } from './lib/options.mjs';
import { fmt, machineLine, markdownTable } from './lib/report.mjs';

const NODES = 5000;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function makeNodes(rand) {
  const nodes = [];
  for (let i = 0; i < NODES; i++) {
    const big = rand() < 0.5;
    const taints = [];
    if (i % 20 === 0) taints.push({ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' });
    if (i % 20 === 7) taints.push({ key: 'maintenance', value: 'soon', effect: 'PreferNoSchedule' });
    nodes.push({
      name: `node-${String(i).padStart(5, '0')}`,
      labels: {
        'topology.kubernetes.io/zone': `zone-${'abcde'[i % 5]}`,
        'node.kubernetes.io/instance-type': big ? 'large' : 'medium',
        'capstan.dev/generation': String(1 + (i % 4)),
      },
      taints,
      allocatable: { cpu: big ? 64000 : 32000, memory: (big ? 256 : 128) * GiB, pods: 110 },
      unschedulable: i % 100 === 99,
    });
  }
  return nodes;
}

function makePods(count, rand) {
  const pods = [];
  for (let i = 0; i < count; i++) {
    const owner = `default/app-${i % 500}`;
    const kind = i % 500;
    const pod = {
      id: `default/pod-${i}`,
      owner,
      cpu: 100 * (1 + (kind % 10)),
      memory: 128 * MiB * (1 + (kind % 16)),
    };
    if (kind % 10 === 1) pod.nodeSelector = { 'topology.kubernetes.io/zone': `zone-${'abcde'[kind % 5]}` };
    if (kind % 10 === 2) {
      pod.affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'capstan.dev/generation', operator: 'Gt', values: ['1'] }] }],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 50, preference: { matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['large'] }] } },
          ],
        },
      };
    }
    if (kind % 20 === 3) pod.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }];
    if (kind === 4) pod.hostPorts = [{ port: 9100 }];
    pods.push(pod);
  }
  // Shuffle so owners arrive interleaved, as a controller's queue would deliver them.
  for (let i = pods.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pods[i], pods[j]] = [pods[j], pods[i]];
  }
  return pods;
}

// ---- the naive baseline: every node filtered and scored for every pod, plain objects ----

function naiveTolerates(tols, taint) {
  return tols.some(
    (t) =>
      (!t.effect || t.effect === taint.effect) &&
      (!t.key || t.key === taint.key) &&
      (t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '')),
  );
}

function naiveMatchExpr(e, labels) {
  const v = labels[e.key];
  switch (e.operator) {
    case 'In': return v !== undefined && e.values.includes(v);
    case 'NotIn': return v === undefined || !e.values.includes(v);
    case 'Exists': return v !== undefined;
    case 'DoesNotExist': return v === undefined;
    case 'Gt': return v !== undefined && Number(v) > Number(e.values[0]);
    case 'Lt': return v !== undefined && Number(v) < Number(e.values[0]);
    default: return false;
  }
}

function naiveTerm(term, labels) {
  const ex = term.matchExpressions ?? [];
  return ex.length > 0 && ex.every((e) => naiveMatchExpr(e, labels));
}

class NaiveScheduler {
  constructor(nodes, random) {
    this.random = random;
    this.nodes = nodes.map((n) => ({ ...n, labels: n.labels ?? {}, taints: n.taints ?? [], used: { cpu: 0, memory: 0, pods: 0 }, ports: new Set(), owners: new Map() }));
    this.byName = new Map(this.nodes.map((n) => [n.name, n]));
  }

  // Per-pod work is hoisted out of the node loop; the per-node work is what a direct
  // reading of the filters and scores does, on plain objects.
  fits(pod, sel, req, n) {
    const tols = pod.tolerations ?? [];
    if (n.unschedulable) return false;
    for (const t of n.taints) if (t.effect !== 'PreferNoSchedule' && !naiveTolerates(tols, t)) return false;
    for (const [k, v] of sel) if (n.labels[k] !== v) return false;
    if (req && !req.nodeSelectorTerms.some((t) => naiveTerm(t, n.labels))) return false;
    if (pod.hostPorts) for (const p of pod.hostPorts) if (n.ports.has(p.port)) return false;
    if (n.used.pods + 1 > n.allocatable.pods) return false;
    if (n.used.cpu + pod.cpu > n.allocatable.cpu) return false;
    if (n.used.memory + pod.memory > n.allocatable.memory) return false;
    return true;
  }

  schedule(pod) {
    const sel = Object.entries(pod.nodeSelector ?? {});
    const req = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    const feasible = [];
    for (const n of this.nodes) if (this.fits(pod, sel, req, n)) feasible.push(n);
    if (feasible.length === 0) return { fits: false };
    const pref = pod.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const tols = pod.tolerations ?? [];
    const raw = feasible.map((n) => ({
      count: n.owners.get(pod.owner) ?? 0,
      aff: pref.reduce((s, p) => s + (naiveTerm(p.preference, n.labels) ? p.weight : 0), 0),
      soft: n.taints.filter((t) => t.effect === 'PreferNoSchedule' && !naiveTolerates(tols, t)).length,
    }));
    let maxCount = 0;
    let maxAff = 0;
    let maxSoft = 0;
    for (const r of raw) {
      maxCount = Math.max(maxCount, r.count);
      maxAff = Math.max(maxAff, r.aff);
      maxSoft = Math.max(maxSoft, r.soft);
    }
    let best = -1;
    let ties = [];
    feasible.forEach((n, i) => {
      const cpuF = (n.used.cpu + pod.cpu) / n.allocatable.cpu;
      const memF = (n.used.memory + pod.memory) / n.allocatable.memory;
      const least = Math.floor((Math.floor((1 - cpuF) * 100) + Math.floor((1 - memF) * 100)) / 2);
      const balanced = Math.floor((1 - Math.abs(cpuF - memF) / 2) * 100);
      const spread = maxCount === 0 ? 100 : Math.floor((100 * (maxCount - raw[i].count)) / maxCount);
      const affinity = maxAff === 0 ? 0 : Math.floor((100 * raw[i].aff) / maxAff);
      const taint = maxSoft === 0 ? 100 : 100 - Math.floor((100 * raw[i].soft) / maxSoft);
      const score = least + balanced + 2 * spread + 2 * affinity + 3 * taint;
      if (score > best) {
        best = score;
        ties = [n];
      } else if (score === best) ties.push(n);
    });
    return { fits: true, node: ties[Math.floor(this.random() * ties.length)].name };
  }

  assume(pod, nodeName) {
    const n = this.byName.get(nodeName);
    n.used.cpu += pod.cpu;
    n.used.memory += pod.memory;
    n.used.pods++;
    n.owners.set(pod.owner, (n.owners.get(pod.owner) ?? 0) + 1);
    for (const p of pod.hostPorts ?? []) n.ports.add(p.port);
  }
}

function run(scheduler, pods) {
  let unschedulable = 0;
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const pod of pods) {
    const d = scheduler.schedule(pod);
    if (d.fits) scheduler.assume(pod, d.node);
    else unschedulable++;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { pods: pods.length, seconds, rate: pods.length / seconds, cpuRate: pods.length / cpuSeconds, unschedulable };
}

export async function benchScheduler({ podCounts = [50_000, 150_000], naivePods = 5000 } = {}) {
  const rows = [];
  for (const podCount of podCounts) {
    const nodes = makeNodes(seededRandom(1));
    const pods = makePods(podCount, seededRandom(2));
    const naive = run(new NaiveScheduler(nodes, seededRandom(3)), pods.slice(0, Math.min(naivePods, podCount)));
    const full = run(new Scheduler({ nodes, random: seededRandom(3), percentageOfNodesToScore: 100 }), pods);
    const adaptive = run(new Scheduler({ nodes, random: seededRandom(3) }), pods);
    const workload = `${NODES.toLocaleString('en-US')} nodes, ${podCount.toLocaleString('en-US')} pods`;
    rows.push([workload, 'naive: every node, plain objects', naive, naive]);
    rows.push([workload, 'Capstan, every node (percentageOfNodesToScore 100)', full, naive]);
    rows.push([workload, 'Capstan, adaptive (default: 10% at 5,000 nodes)', adaptive, naive]);
  }
  return rows;
}

export function schedulerTable(rows) {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const n = (x) => Math.round(x).toLocaleString('en-US');
  const lines = [
    `Machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}, ${os.platform()} ${os.arch()}; ${new Date().toISOString().slice(0, 10)}; load average at the end ${load}`,
    '',
    '| workload | scheduler | pods timed | seconds | pods/s (wall) | pods/s (CPU time) | vs naive (CPU time) | unschedulable |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [workload, name, r, naive] of rows) {
    lines.push(
      `| ${workload} | ${name} | ${n(r.pods)} | ${r.seconds.toFixed(2)} | ${n(r.rate)} | ${n(r.cpuRate)} | ${(r.cpuRate / naive.cpuRate).toFixed(1)}x | ${r.unschedulable} |`,
    );
  }
  return lines.join('\n');
}

// ---- the rest of the scheduler: inter-pod affinity, topology spread, priority ----

const ZONE = 'topology.kubernetes.io/zone';
const HOST = 'kubernetes.io/hostname';

/** 5,000 nodes in three zones, each labelled with its hostname. */
export function makeZonedNodes(count = NODES) {
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const big = i % 2 === 0;
    const name = `node-${String(i).padStart(5, '0')}`;
    nodes.push({
      name,
      labels: { [ZONE]: `zone-${'abc'[i % 3]}`, [HOST]: name },
      allocatable: { cpu: big ? 64000 : 32000, memory: (big ? 256 : 128) * GiB, pods: 110 },
    });
  }
  return nodes;
}

function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

const antiTerm = (app, topologyKey) => ({ labelSelector: { matchLabels: { app } }, topologyKey });

/**
 * Required anti-affinity: a tenth of the pods in groups of three kept one per zone, the rest in
 * groups of 100 kept one per host. Each pod carries its own spec, as pods decoded from the
 * store do.
 */
export function makeAntiAffinityPods(count, rand) {
  const pods = [];
  const perZone = Math.floor(count / 10 / 3);
  for (let g = 0; g < perZone; g++) {
    for (let r = 0; r < 3; r++) {
      const app = `zonal-${g}`;
      pods.push({
        id: `default/${app}-${r}`, owner: `default/${app}`, namespace: 'default', labels: { app },
        cpu: 500, memory: 512 * MiB,
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [antiTerm(app, ZONE)] } },
      });
    }
  }
  for (let i = 0; pods.length < count; i++) {
    const app = `hosted-${Math.floor(i / 100)}`;
    pods.push({
      id: `default/${app}-${i % 100}`, owner: `default/${app}`, namespace: 'default', labels: { app },
      cpu: 250 * (1 + (i % 4)), memory: 256 * MiB * (1 + (i % 4)),
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [antiTerm(app, HOST)] } },
    });
  }
  return shuffle(pods, rand);
}

/** Groups of 150 spread over the 3 zones (DoNotSchedule, maxSkew 1) and over hosts (ScheduleAnyway). */
export function makeSpreadPods(count, rand) {
  const pods = [];
  for (let i = 0; i < count; i++) {
    const app = `spread-${Math.floor(i / 150)}`;
    pods.push({
      id: `default/${app}-${i % 150}`, owner: `default/${app}`, namespace: 'default', labels: { app },
      cpu: 250 * (1 + (i % 4)), memory: 256 * MiB * (1 + (i % 4)),
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: ZONE, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app } } },
        { maxSkew: 1, topologyKey: HOST, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app } } },
      ],
    });
  }
  return shuffle(pods, rand);
}

/**
 * A cluster filled with low-priority 2-cpu pods up to 3 cpus short of each node's capacity,
 * then a stream where 90% are small low-priority pods (which fit in what is left) and 10% are
 * 4-cpu pods of priority 1000, which fit nowhere without evicting.
 */
export function makePriorityWorkload(nodes, count, rand) {
  const prefill = [];
  for (const n of nodes) {
    const slots = Math.floor((n.allocatable.cpu - 3000) / 2000);
    for (let k = 0; k < slots; k++) {
      prefill.push({ id: `batch/${n.name}-${k}`, owner: `batch/filler-${k % 50}`, namespace: 'batch', labels: { app: `filler-${k % 50}` }, cpu: 2000, memory: 4 * GiB, priority: 0, node: n.name, startTime: k });
    }
  }
  const pods = [];
  for (let i = 0; i < count; i++) {
    if (i % 10 === 9) pods.push({ id: `default/vip-${i}`, owner: `default/vip-${i % 20}`, namespace: 'default', labels: { app: `vip-${i % 20}` }, cpu: 4000, memory: 2 * GiB, priority: 1000 });
    else pods.push({ id: `default/small-${i}`, owner: `default/small-${i % 200}`, namespace: 'default', labels: { app: `small-${i % 200}` }, cpu: 200, memory: 256 * MiB });
  }
  return { prefill, pods: shuffle(pods, rand) };
}

/** Schedules each pod; one that fits nowhere preempts when it can, its victims removed at once. */
function runWithPreemption(scheduler, pods) {
  let unschedulable = 0;
  let preemptions = 0;
  let victims = 0;
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const pod of pods) {
    const d = scheduler.schedule(pod);
    if (d.fits) {
      scheduler.assume(pod, d.node);
      continue;
    }
    const p = (pod.priority ?? 0) > 0 ? scheduler.preempt(pod) : undefined;
    if (!p) {
      unschedulable++;
      continue;
    }
    preemptions++;
    victims += p.victims.length;
    for (const v of p.victims) scheduler.forget(v);
    scheduler.assume(pod, p.node);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { pods: pods.length, seconds, rate: pods.length / seconds, cpuRate: pods.length / cpuSeconds, unschedulable, preemptions, victims };
}

/** Checks the placements kept their promise: no two pods of an anti-affinity group share a domain. */
function checkAntiAffinity(scheduler, pods, nodes) {
  const zoneOf = new Map(nodes.map((n) => [n.name, n.labels[ZONE]]));
  const seen = new Set();
  for (const p of pods) {
    const node = scheduler.nodeOf(p.id);
    if (node === undefined) continue;
    const t = p.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    const key = `${p.labels.app}/${t.topologyKey === ZONE ? zoneOf.get(node) : node}`;
    if (seen.has(key)) throw new Error(`anti-affinity broken: two pods of ${p.labels.app} in ${key}`);
    seen.add(key);
  }
}

function checkSpread(scheduler, pods, nodes) {
  const zoneOf = new Map(nodes.map((n) => [n.name, n.labels[ZONE]]));
  const counts = new Map();
  for (const p of pods) {
    const node = scheduler.nodeOf(p.id);
    if (node === undefined) continue;
    const c = counts.get(p.labels.app) ?? { 'zone-a': 0, 'zone-b': 0, 'zone-c': 0 };
    c[zoneOf.get(node)]++;
    counts.set(p.labels.app, c);
  }
  for (const [app, c] of counts) {
    const v = Object.values(c);
    if (Math.max(...v) - Math.min(...v) > 1) throw new Error(`spread broken for ${app}: ${JSON.stringify(c)}`);
  }
}

export function benchWorkloads({ podCount = 50_000, nodeFilterRate } = {}) {
  const rows = [];
  const nodes = makeZonedNodes();
  {
    const pods = makeAntiAffinityPods(podCount, seededRandom(11));
    const s = new Scheduler({ nodes, random: seededRandom(3) });
    const r = runWithPreemption(s, pods);
    checkAntiAffinity(s, pods, nodes);
    rows.push(['required anti-affinity: 10% one per zone (groups of 3), 90% one per host (groups of 100)', r]);
  }
  {
    const pods = makeSpreadPods(podCount, seededRandom(12));
    const s = new Scheduler({ nodes, random: seededRandom(3) });
    const r = runWithPreemption(s, pods);
    checkSpread(s, pods, nodes);
    rows.push(['topology spread: groups of 150 over 3 zones (DoNotSchedule, maxSkew 1) and hosts (ScheduleAnyway)', r]);
  }
  {
    const { prefill, pods } = makePriorityWorkload(nodes, podCount, seededRandom(13));
    const s = new Scheduler({ nodes, pods: prefill, random: seededRandom(3) });
    const r = runWithPreemption(s, pods);
    rows.push([`priority: ${fmt(prefill.length)} low-priority pods fill the cluster to 3 cpus short of each node, then 10% of the pods (4 cpus, priority 1000) preempt`, r]);
  }
  return { rows, nodeFilterRate };
}

export function workloadTable({ rows, nodeFilterRate }) {
  const body = rows.map(([name, r]) => [
    name,
    fmt(r.pods),
    r.seconds.toFixed(2),
    fmt(r.rate),
    fmt(r.cpuRate),
    nodeFilterRate ? `${(r.cpuRate / nodeFilterRate).toFixed(2)}x` : 'n/a',
    fmt(r.unschedulable),
    r.preemptions ? `${fmt(r.preemptions)} (${fmt(r.victims)} victims)` : '0',
  ]);
  return markdownTable(
    ['workload (5,000 nodes, adaptive sampling)', 'pods timed', 'seconds', 'pods/s (wall)', 'pods/s (CPU time)', 'vs node filters only (CPU time)', 'unschedulable', 'preemptions'],
    body,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = parseOptions('bench/scheduler.mjs', 'Scheduler throughput on 5,000 nodes: node filters only (against a naive scan), then anti-affinity, topology spread and preemption workloads.', {
    pods: { type: 'string', default: '50000,150000', help: 'pod counts of the node-filter-only workload, comma-separated' },
    'naive-pods': { type: 'number', default: 5000, help: 'pods the naive scan times (a prefix of the same sequence)' },
    'workload-pods': { type: 'number', default: 50_000, help: 'pods of each anti-affinity, spread and priority workload' },
  });
  const t0 = Date.now();
  const podCounts = o.pods.split(',').map(Number);
  const rows = await benchScheduler({ podCounts, naivePods: o.naivePods });
  console.log('### Scheduler: 5,000 nodes, Capstan vs a naive full scan\n');
  console.log(schedulerTable(rows));
  // The node-filter-only figure the other workloads are set beside: the adaptive run at the same pod count.
  const same = rows.find(([w, name]) => name.startsWith('Capstan, adaptive') && w.endsWith(`${fmt(o.workloadPods)} pods`));
  const workloads = benchWorkloads({ podCount: o.workloadPods, nodeFilterRate: same?.[2].cpuRate });
  console.log('\n### Scheduler: inter-pod affinity, topology spread and preemption, 5,000 nodes\n');
  console.log(machineLine());
  console.log('');
  console.log(workloadTable(workloads));
  console.log(`\nWhole run: ${Math.round((Date.now() - t0) / 1000)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}.`);
}
