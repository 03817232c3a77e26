// Container usage for the autoscaler: cumulative cpu seconds and resident memory per
// container (a process tree read from /proc, or Docker's one-shot stats), turned into cpu
// millicores over the span between two samples and summed per pod.
import { readFileSync } from 'node:fs';
import type { ContainerHandle } from './runtime.js';

export interface ContainerUsage {
  /** Cumulative cpu time, seconds. */
  cpuSeconds: number;
  /** Resident memory now, bytes. */
  memoryBytes: number;
}

/** A runtime that can measure its containers (both Capstan runtimes can). */
export interface StatsCapable {
  stats(handle: ContainerHandle): Promise<ContainerUsage | undefined>;
}

export function canMeasure(runtime: object): runtime is StatsCapable {
  return typeof (runtime as Partial<StatsCapable>).stats === 'function';
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** utime + stime of one process in seconds, from /proc/<pid>/stat (fields 14 and 15). */
export function processCpuSeconds(pid: number, proc = '/proc'): number | undefined {
  const stat = read(`${proc}/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / CLOCK_TICKS;
}

/** VmRSS of one process in bytes, from /proc/<pid>/status. */
export function processRssBytes(pid: number, proc = '/proc'): number | undefined {
  const status = read(`${proc}/${pid}/status`);
  const m = status?.match(/^VmRSS:\s+(\d+)\s*kB/m);
  return m ? Number(m[1]) * 1024 : status !== undefined ? 0 : undefined;
}

/** The pid and its descendants (from /proc/<pid>/task/<tid>/children), at most `limit`. */
export function processTree(pid: number, proc = '/proc', limit = 512): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < limit) {
    const p = queue.shift()!;
    out.push(p);
    const tasks = read(`${proc}/${p}/task/${p}/children`);
    if (tasks) for (const c of tasks.trim().split(/\s+/)) if (c !== '') queue.push(Number(c));
  }
  return out;
}

/** Usage of a process and its descendants; undefined when the process is gone. */
export function processTreeUsage(pid: number, proc = '/proc'): ContainerUsage | undefined {
  const root = processCpuSeconds(pid, proc);
  if (root === undefined) return undefined;
  let cpuSeconds = 0;
  let memoryBytes = 0;
  for (const p of processTree(pid, proc)) {
    cpuSeconds += processCpuSeconds(p, proc) ?? 0;
    memoryBytes += processRssBytes(p, proc) ?? 0;
  }
  return { cpuSeconds, memoryBytes };
}

/** The parts of Docker's container stats (GET /containers/{id}/stats?stream=false) read here. */
export interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: { inactive_file?: number; total_inactive_file?: number; cache?: number } };
}

/** Docker's figures as usage: cpu from total_usage (ns), memory less the inactive page cache (as `docker stats`). */
export function dockerUsage(s: DockerStats): ContainerUsage | undefined {
  const total = s.cpu_stats?.cpu_usage?.total_usage;
  if (typeof total !== 'number') return undefined;
  const usage = s.memory_stats?.usage ?? 0;
  const inactive = s.memory_stats?.stats?.inactive_file ?? s.memory_stats?.stats?.total_inactive_file ?? s.memory_stats?.stats?.cache ?? 0;
  return { cpuSeconds: total / 1e9, memoryBytes: Math.max(0, usage - inactive) };
}

/** Usage as the node's metrics record carries it: cpu millicores (absent until two samples), memory bytes. */
export interface UsageFigures {
  cpu?: number;
  memory: number;
}

/** Per-pod usage, with each container's own figures (`top pods --containers`). */
export interface PodUsageSample extends UsageFigures {
  containers?: Record<string, UsageFigures>;
}

/**
 * Turns cumulative cpu samples into rates: each call gives, per `<ns>/<pod>`, the cpu
 * millicores used since the previous call (containers seen for the first time give no cpu
 * figure yet) and the memory now, summed over the pod's containers.
 */
export class UsageSampler {
  private previous = new Map<string, { at: number; cpuSeconds: number }>();

  sample(now: number, containers: Array<{ handle: ContainerHandle; usage: ContainerUsage }>): Record<string, PodUsageSample> {
    const next = new Map<string, { at: number; cpuSeconds: number }>();
    const pods: Record<string, { memory: number; cpu?: number; missingCpu?: boolean; containers: Record<string, UsageFigures> }> = {};
    for (const { handle, usage } of containers) {
      const key = `${handle.ref.namespace}/${handle.ref.pod}`;
      const pod = (pods[key] ??= { memory: 0, containers: {} });
      pod.memory += usage.memoryBytes;
      const own: UsageFigures = (pod.containers[handle.ref.container] = { memory: usage.memoryBytes });
      next.set(handle.id, { at: now, cpuSeconds: usage.cpuSeconds });
      const before = this.previous.get(handle.id);
      if (!before || now <= before.at || usage.cpuSeconds < before.cpuSeconds) {
        pod.missingCpu = true;
        continue;
      }
      const cpu = ((usage.cpuSeconds - before.cpuSeconds) * 1e6) / (now - before.at);
      own.cpu = Math.round(cpu);
      pod.cpu = (pod.cpu ?? 0) + cpu;
    }
    this.previous = next;
    const out: Record<string, PodUsageSample> = {};
    for (const [key, p] of Object.entries(pods)) {
      out[key] = p.missingCpu || p.cpu === undefined ? { memory: p.memory, containers: p.containers } : { cpu: Math.round(p.cpu), memory: p.memory, containers: p.containers };
    }
    return out;
  }
}
