// Scheduler throughput: 5,000 nodes, 50,000 and 150,000 pods, default filters and scores.
// Compares, in the same run, against a naive scheduler (below) that filters and scores every
// node for every pod. Prints a Markdown table; run after the build:
//   npm run build && node bench/scheduler.mjs
// Env: CAPSTAN_BENCH_NAIVE_PODS (default 5000) bounds the naive run, which costs
// nodes x pods filter calls; its rate is per pod, so a prefix measures it fairly.

import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Scheduler, seededRandom } from '../dist/scheduler/index.js';

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

  fits(pod, n) {
    const tols = pod.tolerations ?? [];
    if (n.unschedulable) return false;
    if (n.taints.some((t) => t.effect !== 'PreferNoSchedule' && !naiveTolerates(tols, t))) return false;
    for (const [k, v] of Object.entries(pod.nodeSelector ?? {})) if (n.labels[k] !== v) return false;
    const req = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    if (req && !req.nodeSelectorTerms.some((t) => naiveTerm(t, n.labels))) return false;
    if ((pod.hostPorts ?? []).some((p) => n.ports.has(p.port))) return false;
    if (n.used.pods + 1 > n.allocatable.pods) return false;
    if (n.used.cpu + pod.cpu > n.allocatable.cpu) return false;
    if (n.used.memory + pod.memory > n.allocatable.memory) return false;
    return true;
  }

  schedule(pod) {
    const feasible = this.nodes.filter((n) => this.fits(pod, n));
    if (feasible.length === 0) return { fits: false };
    const counts = feasible.map((n) => n.owners.get(pod.owner) ?? 0);
    const maxCount = Math.max(...counts);
    const pref = pod.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const aff = feasible.map((n) => pref.reduce((s, p) => s + (naiveTerm(p.preference, n.labels) ? p.weight : 0), 0));
    const maxAff = Math.max(...aff);
    const tols = pod.tolerations ?? [];
    const soft = feasible.map((n) => n.taints.filter((t) => t.effect === 'PreferNoSchedule' && !naiveTolerates(tols, t)).length);
    const maxSoft = Math.max(...soft);
    const scores = feasible.map((n, i) => {
      const cpuF = (n.used.cpu + pod.cpu) / n.allocatable.cpu;
      const memF = (n.used.memory + pod.memory) / n.allocatable.memory;
      const least = Math.floor((Math.floor((1 - cpuF) * 100) + Math.floor((1 - memF) * 100)) / 2);
      const balanced = Math.floor((1 - Math.abs(cpuF - memF) / 2) * 100);
      const spread = maxCount === 0 ? 100 : Math.floor((100 * (maxCount - counts[i])) / maxCount);
      const affinity = maxAff === 0 ? 0 : Math.floor((100 * aff[i]) / maxAff);
      const taint = maxSoft === 0 ? 100 : 100 - Math.floor((100 * soft[i]) / maxSoft);
      return least + balanced + 2 * spread + 2 * affinity + 3 * taint;
    });
    const best = Math.max(...scores);
    const ties = feasible.filter((_, i) => scores[i] === best);
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
  const t0 = process.hrtime.bigint();
  for (const pod of pods) {
    const d = scheduler.schedule(pod);
    if (d.fits) scheduler.assume(pod, d.node);
    else unschedulable++;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { pods: pods.length, seconds, rate: pods.length / seconds, unschedulable };
}

export async function benchScheduler({ podCounts = [50_000, 150_000], naivePods = Number(process.env.CAPSTAN_BENCH_NAIVE_PODS ?? 5000) } = {}) {
  const rows = [];
  for (const podCount of podCounts) {
    const nodes = makeNodes(seededRandom(1));
    const pods = makePods(podCount, seededRandom(2));
    const naive = run(new NaiveScheduler(nodes, seededRandom(3)), pods.slice(0, Math.min(naivePods, podCount)));
    const full = run(new Scheduler({ nodes, random: seededRandom(3), percentageOfNodesToScore: 100 }), pods);
    const adaptive = run(new Scheduler({ nodes, random: seededRandom(3) }), pods);
    const workload = `${NODES.toLocaleString('en-US')} nodes, ${podCount.toLocaleString('en-US')} pods`;
    rows.push([workload, 'naive: every node, plain objects', naive, naive.rate]);
    rows.push([workload, 'Capstan, every node (percentageOfNodesToScore 100)', full, naive.rate]);
    rows.push([workload, 'Capstan, adaptive (default, 10% at 5,000 nodes)', adaptive, naive.rate]);
  }
  return rows;
}

export function schedulerTable(rows) {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const lines = [
    `Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}; date ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| workload | scheduler | pods timed | seconds | pods/s | vs naive | unschedulable |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const [workload, name, r, naiveRate] of rows) {
    lines.push(
      `| ${workload} | ${name} | ${r.pods.toLocaleString('en-US')} | ${r.seconds.toFixed(2)} | ${Math.round(r.rate).toLocaleString('en-US')} | ${(r.rate / naiveRate).toFixed(1)}x | ${r.unschedulable} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchScheduler();
  console.log('## Scheduler\n');
  console.log(schedulerTable(rows));
}
