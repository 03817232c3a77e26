// The `job` provider's effect: one pod run to completion through the real machinery. The pod
// is written to the store the way the CronJob controller writes a Job's pod (jobPod), unbound,
// so the scheduler binds it and the node's agent runs it; its exit code is the measurement.
// Exit 0 passes, anything else fails, a pod still running at the deadline is an error. The pod
// is removed afterwards (stopped first when it still runs).

import { randomBytes } from 'node:crypto';
import { STORE_PREFIX, type Pod, type PodSpec } from '../api/cluster.js';
import type { Clock } from '../common/index.js';
import { CRONJOB_NAME_LABEL, jobPod, podFinished, type Job } from '../controllers/cronjob/index.js';
import { decodeJson, templateHash } from '../controllers/workload/index.js';
import type { KV } from '../store/index.js';

/** What a `job` metric asks for (Argo's shape: a Job spec with its pod template). */
export interface JobRequest {
  namespace: string;
  /** Names the pod: `analysis-<workload>-<metric>-<random>`. */
  workload: string;
  metric: string;
  template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: unknown };
  /** How long the pod may take from creation to exit. */
  timeoutSeconds: number;
}

export type JobOutcome = { exitCode: number; pod: string; message?: string } | { timedOut: true; pod: string; message: string };

export type JobRunner = (request: JobRequest) => Promise<JobOutcome>;

export interface StoreJobRunnerOptions {
  kv: KV;
  clock: Clock;
  /** How often the pod is looked at (default 500 ms). */
  pollMs?: number;
  /** How long a stopped pod may take to go before its record is removed anyway (default 30 s). */
  stopGraceMs?: number;
}

const JOB_NAME_MAX = 61;

/** `analysis-<workload>-<metric>-<random>`; jobPod appends `-0` for the pod. */
function jobName(workload: string, metric: string): string {
  const clean = (s: string): string => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const suffix = randomBytes(3).toString('hex');
  const base = `analysis-${clean(workload)}-${clean(metric)}`.slice(0, JOB_NAME_MAX - suffix.length - 1).replace(/-+$/, '');
  return `${base}-${suffix}`;
}

/** The exit code of a finished pod: the first non-zero container exit, else 0. */
export function exitCodeOf(pod: Pod): number | undefined {
  const codes: number[] = [];
  for (const c of pod.status.containerStatuses ?? []) if ('terminated' in c.state) codes.push(c.state.terminated.exitCode);
  if (codes.length > 0) return codes.find((c) => c !== 0) ?? 0;
  if (pod.status.phase === 'Succeeded') return 0;
  if (pod.status.phase === 'Failed') return 1;
  return undefined;
}

export function storeJobRunner(options: StoreJobRunnerOptions): JobRunner {
  const { kv, clock } = options;
  const pollMs = options.pollMs ?? 500;
  const sleep = (ms: number): Promise<void> => new Promise((r) => clock.setTimeout(r, ms));

  return async (req) => {
    const now = clock.now();
    const name = jobName(req.workload, req.metric);
    const labels = { ...(req.template.metadata?.labels ?? {}) };
    // One pod, no retries in place: its exit code is the answer.
    const given = req.template.spec as PodSpec;
    const spec: PodSpec = { ...given, terminationGracePeriodSeconds: given.terminationGracePeriodSeconds ?? 30, restartPolicy: 'Never' };
    const job: Job = {
      metadata: {
        name,
        namespace: req.namespace,
        labels,
        owner: { kind: 'CronJob', name: req.workload },
        createdAt: new Date(now).toISOString(),
        scheduledAt: new Date(now).toISOString(),
        templateHash: templateHash({ labels, spec }),
      },
      spec: { backoffLimit: 0, template: { metadata: { labels, ...(req.template.metadata?.annotations ? { annotations: req.template.metadata.annotations } : {}) }, spec } },
      status: { phase: 'Active', active: 0, succeeded: 0, failed: 0, startTime: new Date(now).toISOString() },
    };
    const made = jobPod(job, 0, now);
    // Not a CronJob's: without the CronJob label no CronJob controller pass takes the pod as its own.
    const { [CRONJOB_NAME_LABEL]: _cron, ...podLabels } = made.metadata.labels;
    const pod: Pod = { ...made, metadata: { ...made.metadata, labels: podLabels } };
    const podName = pod.metadata.name;
    const key = `${STORE_PREFIX.pods}${req.namespace}/${podName}`;
    const created = await kv.txn({
      compare: [{ key, target: 'version', op: '==', value: 0 }],
      success: [{ type: 'put', key, value: JSON.stringify(pod) }],
      failure: [],
    });
    if (!created.succeeded) throw new Error(`pod ${req.namespace}/${podName} already exists`);

    const deadline = now + req.timeoutSeconds * 1000;
    let last: Pod | undefined = pod;
    try {
      while (clock.now() < deadline) {
        last = decodeJson<Pod>(await kv.get(key));
        if (!last) return { exitCode: 1, pod: podName, message: `pod ${podName} was removed before it finished` };
        if (last.status.phase === 'Succeeded' || last.status.phase === 'Failed') {
          const exitCode = exitCodeOf(last) ?? 1;
          return { exitCode, pod: podName, ...(last.status.message ? { message: last.status.message } : {}) };
        }
        await sleep(Math.min(pollMs, Math.max(1, deadline - clock.now())));
      }
      const where = last?.spec.nodeName ? `on node ${last.spec.nodeName}` : 'unscheduled';
      return { timedOut: true, pod: podName, message: `pod ${podName} (${where}, ${last?.status.phase ?? 'gone'}) did not finish within ${req.timeoutSeconds}s` };
    } finally {
      await cleanUp(kv, key, clock, options.stopGraceMs ?? 30_000, pollMs);
    }
  };
}

/** Removes the pod's record; a pod still running on a node is asked to stop first. */
async function cleanUp(kv: KV, key: string, clock: Clock, graceMs: number, pollMs: number): Promise<void> {
  const item = await kv.get(key);
  const pod = decodeJson<Pod>(item);
  if (!item || !pod) return;
  if (pod.spec.nodeName && !podFinished(pod)) {
    const stopping = { ...pod, metadata: { ...pod.metadata, deletionRequestedAt: new Date(clock.now()).toISOString() } };
    await kv.txn({ compare: [{ key, target: 'modRevision', op: '==', value: item.modRevision }], success: [{ type: 'put', key, value: JSON.stringify(stopping) }], failure: [] });
    const until = clock.now() + graceMs;
    while (clock.now() < until) {
      const cur = decodeJson<Pod>(await kv.get(key));
      if (!cur || podFinished(cur)) break;
      await new Promise<void>((r) => clock.setTimeout(r, pollMs));
    }
  }
  await kv.delete(key);
}
