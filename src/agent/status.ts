// Pod and container status from what the worker knows: pure, so the mapping to Kubernetes'
// phases and reasons is tested without any runtime.

import type { ContainerStatus, PodPhase, PodStatus } from '../api/cluster.js';
import type { RestartPolicy } from './backoff.js';
import { REASONS } from './backoff.js';

export interface ContainerView {
  name: string;
  id?: string;
  running?: { startedAt: number };
  waiting?: { reason: string; message?: string };
  lastTermination?: { exitCode: number; reason: string; message?: string; finishedAt: number };
  /** Terminated and not going to be started again. */
  finished: boolean;
  restartCount: number;
  started: boolean;
  ready: boolean;
  /** An init container that exited 0. */
  completed?: boolean;
  /** An init container with restartPolicy Always. */
  sidecar?: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function containerStatus(v: ContainerView): ContainerStatus {
  const base = { name: v.name, ready: v.running !== undefined && v.ready, started: v.running !== undefined && v.started, restartCount: v.restartCount };
  const withId = v.id !== undefined ? { id: v.id } : {};
  if (v.running !== undefined) return { ...base, ...withId, state: { running: { startedAt: iso(v.running.startedAt) } } };
  if (v.finished && v.lastTermination !== undefined) {
    const t = v.lastTermination;
    const terminated = { exitCode: t.exitCode, reason: t.reason, finishedAt: iso(t.finishedAt), ...(t.message !== undefined ? { message: t.message } : {}) };
    return { ...base, ...withId, state: { terminated } };
  }
  const waiting = v.waiting ?? { reason: REASONS.containerCreating };
  return { ...base, ...withId, state: { waiting: { reason: waiting.reason, ...(waiting.message !== undefined ? { message: waiting.message } : {}) } } };
}

/**
 * The kubelet's phase rules: any container waiting for its first run → Pending; any running →
 * Running; all stopped → Succeeded or Failed when nothing restarts, else Running (a container
 * in CrashLoopBackOff counts as stopped, so such a pod is Running).
 */
export function podPhase(policy: RestartPolicy, views: ContainerView[]): PodPhase {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const v of views) {
    if (v.running !== undefined) running++;
    else if (v.lastTermination !== undefined) {
      stopped++;
      if (v.finished && v.lastTermination.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (policy === 'Always') return 'Running';
  const allFinished = views.every((v) => v.finished);
  if (!allFinished) return 'Running';
  return succeeded === stopped ? 'Succeeded' : 'Failed';
}

export interface PodStatusInput {
  policy: RestartPolicy;
  views: ContainerView[];
  previous?: PodStatus;
  now: number;
  hostIP?: string;
  ports: Record<string, number>;
  startedAt?: number;
  /** Set while the pod is being stopped: it is never ready then. */
  terminating?: boolean;
  /** Init containers (sidecars among them), in order. */
  initViews?: ContainerView[];
  /** Every init container has completed (or, a sidecar, started). Default true. */
  initialized?: boolean;
}

/**
 * kubectl's pod reason while init containers run: the first one not done gives
 * `Init:<its reason>` when it failed or waits for a reason of its own, else `Init:N/M`.
 */
export function initReason(initViews: ContainerView[]): string {
  for (let i = 0; i < initViews.length; i++) {
    const v = initViews[i]!;
    if (v.completed) continue;
    if (v.sidecar && v.running !== undefined && v.started) continue;
    if (v.running === undefined && v.finished && v.lastTermination !== undefined) return `Init:${v.lastTermination.reason}`;
    const waiting = v.waiting?.reason;
    if (v.running === undefined && waiting !== undefined && waiting !== REASONS.podInitializing && waiting !== REASONS.containerCreating) return `Init:${waiting}`;
    return `Init:${i}/${initViews.length}`;
  }
  return `Init:${initViews.length}/${initViews.length}`;
}

/** An init container failed and will not run again: the pod has failed. */
function initFailed(initViews: ContainerView[]): boolean {
  return initViews.some((v) => v.finished && !v.completed && v.lastTermination !== undefined && v.lastTermination.exitCode !== 0 && v.running === undefined);
}

export function podStatus(input: PodStatusInput): PodStatus {
  const containerStatuses = input.views.map(containerStatus);
  const initViews = input.initViews ?? [];
  const initialized = input.initialized !== false;
  const phase = initialized ? podPhase(input.policy, input.views) : initFailed(initViews) ? 'Failed' : 'Pending';
  // Sidecars count towards the pod's Ready condition (not towards the READY column's containers).
  const sidecarsReady = initViews.every((v) => !v.sidecar || (v.running !== undefined && v.ready));
  const ready = !input.terminating && initialized && phase === 'Running' && sidecarsReady && containerStatuses.length > 0 && containerStatuses.every((c) => c.ready);
  const status: PodStatus = { phase, ready, containerStatuses };
  if (initViews.length > 0) status.initContainerStatuses = initViews.map(containerStatus);
  if (!initialized && !input.terminating) status.reason = initReason(initViews);
  if (ready) status.readySince = input.previous?.ready && input.previous.readySince !== undefined ? input.previous.readySince : iso(input.now);
  if (input.hostIP !== undefined) status.hostIP = input.hostIP;
  if (Object.keys(input.ports).length > 0) status.ports = input.ports;
  if (input.startedAt !== undefined) status.startedAt = iso(input.startedAt);
  if (input.terminating) status.reason = 'Terminating';
  return status;
}
