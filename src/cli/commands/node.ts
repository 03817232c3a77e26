// `capstan node list|cordon|uncordon|drain|delete`: node maintenance, as kubectl's (admin token
// for everything but list). Drain repeats the server's bounded drain step until the node runs
// no pods, printing what it evicts, and fails when --timeout passes first.
import type { DrainStep, NodeInfo, Pod } from '../../api/cluster.js';
import { CapstanError } from '../../common/errors.js';
import { connect, type ApiClient, type ConnectionOptions } from '../api-client.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';
import { table } from '../table.js';
import { contractNode } from '../views.js';

export interface NodeOptions extends ConnectionOptions {
  output?: 'text' | 'json';
}

export interface DrainOptions extends NodeOptions {
  force?: boolean;
  /** Seconds (default 300). */
  timeout?: number;
  /** Pods evicted per request (default: the server's, 10). */
  batchSize?: number;
  /** Poll period while pods stop (default 1 s). */
  intervalMs?: number;
}

const path = (name: string, action?: string): string => `/api/v1/nodes/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;

/** kubectl's STATUS column: `Ready`, `NotReady`, with `,SchedulingDisabled` when cordoned. */
export function nodeStatus(n: { ready: boolean; unschedulable: boolean }): string {
  return `${n.ready ? 'Ready' : 'NotReady'}${n.unschedulable ? ',SchedulingDisabled' : ''}`;
}

/** The `get nodes` shape of the contract (with `unschedulable`). */
async function nodeRows(api: ApiClient) {
  const [nodes, pods] = await Promise.all([api.get<{ items?: NodeInfo[] }>('/api/v1/nodes'), api.get<{ items?: Pod[] }>('/api/v1/pods')]);
  return (nodes.items ?? []).map((n) => contractNode(n, pods.items ?? []));
}

export async function runNodeList(io: CliIO, opts: NodeOptions): Promise<void> {
  const items = await nodeRows(connect(io, opts));
  if (opts.output === 'json') return void io.out(`${JSON.stringify(items, null, 2)}\n`);
  if (items.length === 0) return void io.out('No nodes found.\n');
  io.out(
    table(
      ['NAME', 'STATUS', 'RUNTIME', 'CPU', 'MEMORY', 'PODS', 'LABELS'],
      items.map((n) => [n.name, nodeStatus(n), n.runtime, `${n.allocated.cpu}m/${n.capacity.cpu}m`, `${Math.round(n.allocated.memory / 2 ** 20)}Mi/${Math.round(n.capacity.memory / 2 ** 20)}Mi`, `${n.allocated.pods}/${n.capacity.pods}`, Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',')]),
    ),
  );
}

export async function runCordon(io: CliIO, name: string, cordon: boolean, opts: NodeOptions): Promise<void> {
  const r = await connect(io, opts).post<{ node: NodeInfo; changed: boolean }>(path(name, cordon ? 'cordon' : 'uncordon'));
  if (opts.output === 'json') return void io.out(`${JSON.stringify(r, null, 2)}\n`);
  io.out(`node/${name} ${cordon ? 'cordoned' : 'uncordoned'}${r.changed ? '' : ' (already)'}\n`);
}

export async function runDrain(io: CliIO, name: string, opts: DrainOptions): Promise<void> {
  const api = connect(io, opts);
  const timeout = opts.timeout ?? 300;
  const deadline = Date.now() + timeout * 1000;
  const body = { force: opts.force === true, ...(opts.batchSize ? { batchSize: opts.batchSize } : {}) };
  let first = true;
  for (;;) {
    let step: DrainStep;
    try {
      step = await api.post<DrainStep>(path(name, 'drain'), body);
    } catch (err) {
      if (err instanceof CapstanError && (err.context as { status?: number } | undefined)?.status === 409) {
        throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `cannot drain node/${name}: ${err.message.replace(/^.*HTTP 409: /, '')} (pass --force)`, { cause: err });
      }
      throw err;
    }
    if (first) io.out(`node/${name} ${step.cordoned ? 'cordoned' : 'already cordoned'}\n`);
    if (first && (step.daemonSet?.length ?? 0) > 0) io.out(`ignoring DaemonSet pods: ${step.daemonSet!.join(', ')}\n`);
    if (first && opts.force && step.unmanaged.length > 0) io.err(`capstan: warning: evicting pods no controller recreates: ${step.unmanaged.join(', ')}\n`);
    first = false;
    for (const p of step.evicted) io.out(`evicting pod ${p}\n`);
    if (step.done) {
      io.out(`node/${name} drained\n`);
      return;
    }
    if (Date.now() >= deadline) {
      io.err(`capstan: timed out after ${timeout}s draining node/${name}; still on it: ${step.remaining.join(', ')}\n`);
      throw new ExitRequest(EXIT_FAILURE);
    }
    if (step.evicted.length === 0) io.out(`waiting for ${step.remaining.length} pod(s) to stop: ${step.remaining.join(', ')}\n`);
    await new Promise((r) => setTimeout(r, Math.min(opts.intervalMs ?? 1000, Math.max(1, deadline - Date.now()))));
  }
}

export async function runNodeDelete(io: CliIO, name: string, opts: NodeOptions): Promise<void> {
  const r = await connect(io, opts).delete<{ node: string; evicted: string[] }>(path(name));
  if (opts.output === 'json') return void io.out(`${JSON.stringify(r, null, 2)}\n`);
  io.out(`node/${name} deleted${r.evicted.length ? ` (${r.evicted.length} pod(s) removed to be recreated elsewhere: ${r.evicted.join(', ')})` : ''}\n`);
}
