// `capstan top pods|nodes`: cpu and memory the node agents measured for each pod (Docker stats
// or the /proc process tree, sent with every heartbeat), and per node the sum against capacity.
import { CapstanError } from '../../common/errors.js';
import type { NodeInfo } from '../../api/cluster.js';
import { connect } from '../api-client.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';
import type { CommonOptions } from './cluster.js';

interface NodeWithMetrics extends NodeInfo {
  podMetrics?: { at: string; windowSeconds: number; pods: Record<string, { cpu?: number; memory?: number; containers?: Record<string, { cpu?: number; memory?: number }> }> };
}

/** Measurements older than this are not shown (the agent sends one per heartbeat). */
const MAX_AGE_MS = 60_000;

const mi = (bytes: number) => `${Math.round(bytes / 2 ** 20)}Mi`;

export interface PodTop {
  namespace: string;
  name: string;
  node: string;
  cpu: number | null;
  memory: number;
  at: string;
  /** Each container's figures (agents older than this field send none). */
  containers: Array<{ name: string; cpu: number | null; memory: number }>;
}

export function podTops(nodes: NodeWithMetrics[], now: number, namespace?: string): PodTop[] {
  const out: PodTop[] = [];
  for (const n of nodes) {
    const m = n.podMetrics;
    if (!m || now - Date.parse(m.at) > MAX_AGE_MS) continue;
    for (const [key, v] of Object.entries(m.pods)) {
      const [ns, name] = key.split('/', 2) as [string, string];
      if (namespace !== undefined && ns !== namespace) continue;
      const containers = Object.entries(v.containers ?? {})
        .map(([c, u]) => ({ name: c, cpu: u.cpu ?? null, memory: u.memory ?? 0 }))
        .sort((a, b) => a.name.localeCompare(b.name));
      out.push({ namespace: ns, name, node: n.name, cpu: v.cpu ?? null, memory: v.memory ?? 0, at: m.at, containers });
    }
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

const cores = (cpu: number | null) => (cpu === null ? '<measuring>' : `${Math.round(cpu)}m`);

export async function runTop(io: CliIO, what: string, opts: CommonOptions & { containers?: boolean }): Promise<void> {
  const kind = { pods: 'pods', pod: 'pods', po: 'pods', nodes: 'nodes', node: 'nodes', no: 'nodes' }[what.toLowerCase()];
  if (!kind) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `top takes pods or nodes, not "${what}"`);
  const api = connect(io, opts);
  const nodes = (await api.get<{ items?: NodeWithMetrics[] }>('/api/v1/nodes')).items ?? [];
  const pods = podTops(nodes, Date.now(), kind === 'pods' ? opts.namespace : undefined);
  if (kind === 'pods') {
    if (opts.output === 'json') return void io.out(`${JSON.stringify(pods, null, 2)}\n`);
    if (pods.length === 0) return void io.out('No measurements yet: agents send them with each heartbeat.\n');
    if (opts.containers) {
      // As `kubectl top pod --containers`: one row per container.
      const rows = pods.flatMap((p) => p.containers.map((c) => [p.namespace, p.name, c.name, cores(c.cpu), mi(c.memory), p.node]));
      return void io.out(table(['NAMESPACE', 'POD', 'NAME', 'CPU(cores)', 'MEMORY(bytes)', 'NODE'], rows));
    }
    io.out(table(['NAMESPACE', 'NAME', 'CPU(cores)', 'MEMORY(bytes)', 'NODE'], pods.map((p) => [p.namespace, p.name, cores(p.cpu), mi(p.memory), p.node])));
    return;
  }
  const rows = nodes.map((n) => {
    const mine = pods.filter((p) => p.node === n.name);
    const cpu = mine.reduce((s, p) => s + (p.cpu ?? 0), 0);
    const memory = mine.reduce((s, p) => s + p.memory, 0);
    return { name: n.name, pods: mine.length, cpu, memory, cpuPercent: n.capacity.cpu > 0 ? Math.round((cpu / n.capacity.cpu) * 100) : null, memoryPercent: n.capacity.memory > 0 ? Math.round((memory / n.capacity.memory) * 100) : null, measured: n.podMetrics !== undefined && Date.now() - Date.parse(n.podMetrics.at) <= MAX_AGE_MS };
  });
  if (opts.output === 'json') return void io.out(`${JSON.stringify(rows, null, 2)}\n`);
  // What the node's pods use, not the whole machine (the agent measures pods only).
  io.out(table(['NAME', 'PODS', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%'], rows.map((r) => (r.measured ? [r.name, String(r.pods), `${Math.round(r.cpu)}m`, `${r.cpuPercent ?? '-'}%`, mi(r.memory), `${r.memoryPercent ?? '-'}%`] : [r.name, '-', '<unknown>', '-', '<unknown>', '-']))));
}
