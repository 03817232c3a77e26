// `capstan logs`: a container's output through the API server (which asks the pod's node
// agent), as kubectl logs. A workload (deploy/NAME, rollout/NAME, statefulset/NAME,
// daemonset/NAME, job/NAME) picks one of its pods the way kubectl does: ready before not
// ready, running before pending, then the newest; stderr says which when there are several.
import type { Pod } from '../../api/cluster.js';
import { CapstanError } from '../../common/errors.js';
import { connect, type ApiClient, type ConnectionOptions } from '../api-client.js';
import type { CliIO } from '../io.js';

export interface LogsOptions extends ConnectionOptions {
  namespace?: string;
  container?: string;
  follow?: boolean;
  previous?: boolean;
  since?: string;
  tail?: number;
  timestamps?: boolean;
  /** Stops a followed stream (default: SIGINT). */
  signal?: AbortSignal;
}

/** Workload kinds by the names kubectl accepts, as pods name their owner. */
const OWNER_KINDS: Record<string, string[]> = {
  deploy: ['Deployment'],
  deployment: ['Deployment'],
  deployments: ['Deployment'],
  rollout: ['Rollout'],
  rollouts: ['Rollout'],
  ro: ['Rollout'],
  sts: ['StatefulSet'],
  statefulset: ['StatefulSet'],
  statefulsets: ['StatefulSet'],
  ds: ['DaemonSet'],
  daemonset: ['DaemonSet'],
  daemonsets: ['DaemonSet'],
  job: ['Job'],
  jobs: ['Job'],
};

function usage(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CLI_USAGE', message);
}

/** A Go-style duration (`30s`, `5m`, `1h30m`) in whole seconds, rounded up. */
export function parseDuration(text: string): number {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(text.trim());
  if (!m || text.trim() === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
    throw usage(`--since takes a duration such as 30s, 5m or 1h, got "${text}"`);
  }
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (seconds <= 0) throw usage(`--since must be longer than 0s, got "${text}"`);
  return Math.ceil(seconds);
}

/** `POD`, `pod/POD` or `KIND/NAME` → what to look up. */
export function parseTarget(text: string): { pod: string } | { kinds: string[]; name: string; label: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { pod: text };
  const kind = text.slice(0, slash).toLowerCase();
  const name = text.slice(slash + 1);
  if (name === '') throw usage(`"${text}" names no object`);
  if (kind === 'pod' || kind === 'pods' || kind === 'po') return { pod: name };
  const kinds = OWNER_KINDS[kind];
  if (!kinds) throw usage(`capstan logs takes a pod or deploy/, rollout/, statefulset/, daemonset/ or job/NAME, got "${text}"`);
  return { kinds, name, label: text };
}

function podRank(pod: Pod): number[] {
  const deleting = pod.metadata.deletionRequestedAt !== undefined ? 1 : 0;
  const ready = pod.status?.ready ? 0 : 1;
  const running = pod.status?.phase === 'Running' ? 0 : pod.status?.phase === 'Pending' ? 1 : 2;
  const bound = pod.spec.nodeName ? 0 : 1;
  return [deleting, ready, running, bound, -Date.parse(pod.metadata.createdAt || '0')];
}

/** The pod kubectl would pick among a workload's pods. */
export function pickPod(pods: Pod[]): Pod | undefined {
  return [...pods].sort((a, b) => {
    const ra = podRank(a);
    const rb = podRank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
    return a.metadata.name.localeCompare(b.metadata.name);
  })[0];
}

/** The pod a target names (a workload's chosen pod, said on stderr when there are several). */
export async function resolvePod(io: CliIO, api: ApiClient, target: string, namespace: string): Promise<string> {
  const t = parseTarget(target);
  if ('pod' in t) return t.pod;
  const body = await api.get<{ items?: Pod[] }>(`/api/v1/pods?namespace=${encodeURIComponent(namespace)}`);
  const pods = (body.items ?? []).filter((p) => p.metadata.namespace === namespace && t.kinds.includes(p.metadata.owner?.kind) && p.metadata.owner?.name === t.name);
  const chosen = pickPod(pods);
  if (!chosen) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `${t.label} has no pods in namespace ${namespace}`);
  if (pods.length > 1) io.err(`Found ${pods.length} pods, using pod/${chosen.metadata.name}\n`);
  return chosen.metadata.name;
}

/** Kubernetes' Warning header (`299 - "text", 299 - "text"`) → the texts. */
export function warningTexts(header: string | null): string[] {
  if (!header) return [];
  const out: string[] = [];
  const re = /\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(header); m; m = re.exec(header)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

export async function runLogs(io: CliIO, target: string, opts: LogsOptions): Promise<void> {
  const namespace = opts.namespace ?? 'default';
  const query = new URLSearchParams();
  if (opts.container) query.set('container', opts.container);
  if (opts.follow) query.set('follow', 'true');
  if (opts.previous) query.set('previous', 'true');
  if (opts.timestamps) query.set('timestamps', 'true');
  if (opts.tail !== undefined) query.set('tailLines', String(opts.tail));
  if (opts.since !== undefined) query.set('sinceSeconds', String(parseDuration(opts.since)));
  const api = connect(io, opts);
  const pod = await resolvePod(io, api, target, namespace);
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  if (opts.signal) opts.signal.addEventListener('abort', stop, { once: true });
  else process.once('SIGINT', stop);
  try {
    const res = await api.stream(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?${query.toString()}`, abort.signal);
    for (const w of warningTexts(res.headers.get('warning'))) io.err(`Warning: ${w}\n`);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) io.out(decoder.decode(chunk, { stream: true }));
      const rest = decoder.decode();
      if (rest) io.out(rest);
    } catch (err) {
      if (!abort.signal.aborted) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `the log stream broke off: ${(err as Error).message}`, { cause: err });
    }
  } catch (err) {
    if (abort.signal.aborted && !(err instanceof CapstanError)) return;
    throw err;
  } finally {
    if (opts.signal) opts.signal.removeEventListener('abort', stop);
    else process.off('SIGINT', stop);
  }
}
