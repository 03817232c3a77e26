// The horizontal pod autoscaler's arithmetic, as Kubernetes documents and implements it:
// per metric, desired = ceil(current × currentValue / target) with a tolerance of 0.1; pods
// without a metric count as 100% of the target on a scale down and 0% on a scale up; pods not
// ready count as 0% on a scale up of a CPU metric; the largest proposal of all metrics wins;
// then the stabilisation windows over past recommendations, the scale policies over their
// periods and the min/max clamps. Pure: time and history come in, history goes out.

import type { HpaScalingRules, MetricSpec, NormalizedHpaSpec } from '../../api/index.js';
import { quantityValue } from '../../api/index.js';

export const TOLERANCE = 0.1;

/** One pod of the target as the autoscaler sees it. */
export interface HpaPod {
  name: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  ready: boolean;
  deleting: boolean;
  /** Sum of the containers' requests (cpu millicores, memory bytes); absent when a container sets none. */
  requests: { cpu?: number; memory?: number };
  /** Measured usage (cpu millicores, memory bytes); absent when there is no fresh measurement. */
  usage: { cpu?: number; memory?: number };
  /** Pods metrics by name (e.g. requests per second); absent when there is none. */
  metrics: Record<string, number>;
}

export interface ScaleEvent {
  at: number;
  /** Pods added (scale up) or removed (scale down), always positive. */
  change: number;
}

/** What the autoscaler remembers between passes (Kubernetes keeps it in memory too). */
export interface HpaHistory {
  recommendations: Array<{ at: number; replicas: number }>;
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
}

export const emptyHistory = (): HpaHistory => ({ recommendations: [], scaleUpEvents: [], scaleDownEvents: [] });

export interface HpaCondition {
  type: 'AbleToScale' | 'ScalingActive' | 'ScalingLimited';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** One entry of status.currentMetrics, in autoscaling/v2's shape. */
export type CurrentMetric =
  | { type: 'Resource'; resource: { name: string; current: { averageUtilization?: number; averageValue: string } } }
  | { type: 'Pods'; pods: { metric: { name: string }; current: { averageValue: string } } };

export interface HpaInput {
  spec: NormalizedHpaSpec;
  /** The target's replica count now (the scale record's, else Git's). */
  currentReplicas: number;
  pods: HpaPod[];
  now: number;
  history: HpaHistory;
}

export interface HpaDecision {
  desiredReplicas: number;
  /** desiredReplicas differs from currentReplicas: write it and record SuccessfulRescale. */
  rescale: boolean;
  /** The event's reason text, e.g. "cpu resource utilization (percentage of request) above target". */
  reason?: string;
  currentMetrics: CurrentMetric[];
  conditions: HpaCondition[];
  history: HpaHistory;
}

/** A metric's proposal, or why there is none. */
type Proposal = { replicas: number; name: string; current: CurrentMetric } | { error: string; reason: string };

function metricName(m: MetricSpec): string {
  if (m.type === 'Resource' && m.resource) {
    return m.resource.target.type === 'Utilization' ? `${m.resource.name} resource utilization (percentage of request)` : `${m.resource.name} resource`;
  }
  if (m.type === 'Pods' && m.pods) return `pods metric ${m.pods.metric.name}`;
  return `${m.type} metric`;
}

function formatValue(resource: string | undefined, v: number): string {
  if (resource === 'cpu') return `${Math.round(v)}m`;
  if (resource === 'memory') return `${Math.round(v)}`;
  // A plain metric as a quantity: milli-units when not a whole number, as Kubernetes prints.
  return Number.isInteger(v) ? `${v}` : `${Math.round(v * 1000)}m`;
}

interface Groups {
  ready: number;
  unready: Set<string>;
  missing: Set<string>;
  values: Map<string, number>;
}

/** Kubernetes' groupPods: deleted or failed pods are ignored, pending ones unready, no value → missing; for cpu, not ready → unready. */
function groupPods(pods: HpaPod[], valueOf: (p: HpaPod) => number | undefined, cpu: boolean): Groups {
  const g: Groups = { ready: 0, unready: new Set(), missing: new Set(), values: new Map() };
  for (const p of pods) {
    if (p.deleting || p.phase === 'Failed' || p.phase === 'Succeeded') continue;
    if (p.phase === 'Pending') {
      g.unready.add(p.name);
      continue;
    }
    const v = valueOf(p);
    if (v === undefined) {
      g.missing.add(p.name);
      continue;
    }
    if (cpu && !p.ready) {
      g.unready.add(p.name);
      continue;
    }
    g.values.set(p.name, v);
    g.ready++;
  }
  return g;
}

/**
 * The shared second half of Kubernetes' replica calculators: `ratioOf` gives the usage ratio
 * of a set of values; missing and unready pods are filled in only when they could change the
 * direction, and a result that flips direction or falls within the tolerance keeps the count.
 */
function replicasFor(current: number, g: Groups, ratioOf: (values: Map<string, number>) => number, fillMissingDown: (pod: string) => number): number {
  const ratio = ratioOf(g.values);
  const scaleUpWithUnready = g.unready.size > 0 && ratio > 1;
  if (!scaleUpWithUnready && g.missing.size === 0) {
    if (Math.abs(1 - ratio) <= TOLERANCE) return current;
    return Math.ceil(ratio * g.ready);
  }
  const values = new Map(g.values);
  if (ratio < 1) for (const p of g.missing) values.set(p, fillMissingDown(p));
  else if (ratio > 1) for (const p of g.missing) values.set(p, 0);
  if (scaleUpWithUnready) for (const p of g.unready) values.set(p, 0);
  const newRatio = ratioOf(values);
  if (Math.abs(1 - newRatio) <= TOLERANCE || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1)) return current;
  const replicas = Math.ceil(newRatio * values.size);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) return current;
  return replicas;
}

const sum = (values: Iterable<number>): number => {
  let n = 0;
  for (const v of values) n += v;
  return n;
};

function proposal(m: MetricSpec, current: number, pods: HpaPod[]): Proposal {
  const name = metricName(m);
  const live = pods.filter((p) => !p.deleting && p.phase !== 'Failed' && p.phase !== 'Succeeded');
  if (live.length === 0) return { reason: 'FailedGetResourceMetric', error: 'no pods returned by selector while calculating replica count' };
  if (m.type === 'Resource' && m.resource) {
    const resource = m.resource.name as 'cpu' | 'memory';
    const target = m.resource.target;
    const g = groupPods(live, (p) => p.usage[resource], resource === 'cpu');
    if (g.values.size === 0) return { reason: 'FailedGetResourceMetric', error: `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API` };
    const average = sum(g.values.values()) / g.values.size;
    if (target.type === 'Utilization') {
      const noRequest = live.find((p) => p.requests[resource] === undefined || p.requests[resource] === 0);
      if (noRequest) return { reason: 'FailedGetResourceMetric', error: `missing request for ${resource} in pod ${noRequest.name}` };
      const requestOf = (pod: string) => live.find((p) => p.name === pod)!.requests[resource]!;
      const wanted = target.averageUtilization ?? 80;
      // A whole percentage, truncated, as Kubernetes computes it before the ratio.
      const utilization = (values: Map<string, number>) => Math.floor((sum(values.values()) * 100) / sum([...values.keys()].map(requestOf)));
      const ratioOf = (values: Map<string, number>) => utilization(values) / wanted;
      // A missing pod on a scale down uses 100% of its request, or the target when that is higher.
      const replicas = replicasFor(current, g, ratioOf, (pod) => (requestOf(pod) * Math.max(100, wanted)) / 100);
      return {
        replicas,
        name,
        current: { type: 'Resource', resource: { name: resource, current: { averageUtilization: Math.floor(utilization(g.values)), averageValue: formatValue(resource, average) } } },
      };
    }
    const targetValue = averageTarget(target.averageValue, resource);
    if (targetValue === undefined) return { reason: 'FailedGetResourceMetric', error: `spec.metrics: no averageValue for ${resource}` };
    const ratioOf = (values: Map<string, number>) => sum(values.values()) / values.size / targetValue;
    return {
      replicas: replicasFor(current, g, ratioOf, () => targetValue),
      name,
      current: { type: 'Resource', resource: { name: resource, current: { averageValue: formatValue(resource, average) } } },
    };
  }
  if (m.type === 'Pods' && m.pods) {
    const metric = m.pods.metric.name;
    const targetValue = averageTarget(m.pods.target.averageValue, undefined);
    if (targetValue === undefined || targetValue === 0) return { reason: 'FailedGetPodsMetric', error: `spec.metrics: no averageValue for ${metric}` };
    const g = groupPods(live, (p) => p.metrics[metric], false);
    if (g.values.size === 0) return { reason: 'FailedGetPodsMetric', error: `unable to get metric ${metric}: no metrics returned for the target's pods` };
    const ratioOf = (values: Map<string, number>) => sum(values.values()) / values.size / targetValue;
    const average = sum(g.values.values()) / g.values.size;
    return {
      replicas: replicasFor(current, g, ratioOf, () => targetValue),
      name,
      current: { type: 'Pods', pods: { metric: { name: metric }, current: { averageValue: formatValue(undefined, average) } } },
    };
  }
  return { reason: 'InvalidMetricSourceType', error: `${m.type} metrics are not supported` };
}

/** An averageValue as a number: cpu in millicores, memory in bytes, others in their unit. */
function averageTarget(v: string | number | undefined, resource: 'cpu' | 'memory' | undefined): number | undefined {
  if (v === undefined) return undefined;
  const base = quantityValue(v);
  if (base === undefined) return undefined;
  return resource === 'cpu' ? base * 1000 : base;
}

function changeInPeriod(events: ScaleEvent[], now: number, periodSeconds: number): number {
  const since = now - periodSeconds * 1000;
  return sum(events.filter((e) => e.at > since).map((e) => e.change));
}

/** Kubernetes' calculateScaleUpLimitWithScalingRules. */
export function scaleUpLimit(current: number, history: HpaHistory, rules: Required<HpaScalingRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  for (const p of rules.policies) {
    const added = changeInPeriod(history.scaleUpEvents, now, p.periodSeconds);
    const deleted = changeInPeriod(history.scaleDownEvents, now, p.periodSeconds);
    const start = current - added + deleted;
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Kubernetes' calculateScaleDownLimitWithBehaviors. */
export function scaleDownLimit(current: number, history: HpaHistory, rules: Required<HpaScalingRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  for (const p of rules.policies) {
    const added = changeInPeriod(history.scaleUpEvents, now, p.periodSeconds);
    const deleted = changeInPeriod(history.scaleDownEvents, now, p.periodSeconds);
    const start = current - added + deleted;
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Drops what no window or period can reach any more. */
function prune(history: HpaHistory, spec: NormalizedHpaSpec, now: number): HpaHistory {
  const { scaleUp, scaleDown } = spec.behavior;
  const window = Math.max(scaleUp.stabilizationWindowSeconds, scaleDown.stabilizationWindowSeconds) * 1000;
  const longest = (rules: Required<HpaScalingRules>) => Math.max(0, ...rules.policies.map((p) => p.periodSeconds)) * 1000;
  const period = Math.max(longest(scaleUp), longest(scaleDown));
  return {
    recommendations: history.recommendations.filter((r) => r.at > now - window),
    scaleUpEvents: history.scaleUpEvents.filter((e) => e.at > now - period),
    scaleDownEvents: history.scaleDownEvents.filter((e) => e.at > now - period),
  };
}

/** One pass of the autoscaler. */
export function decide(input: HpaInput): HpaDecision {
  const { spec, currentReplicas: current, now } = input;
  const conditions: HpaCondition[] = [];
  let history = prune(input.history, spec, now);
  // A fresh autoscaler's window starts with the current count, so it never scales down on its
  // first look (Kubernetes' maybeInitScaleDownStabilizationWindow).
  if (history.recommendations.length === 0 && current > 0) history = { ...history, recommendations: [{ at: now, replicas: current }] };
  const done = (desired: number, currentMetrics: CurrentMetric[], reason: string | undefined, able?: HpaCondition): HpaDecision => {
    const rescale = desired !== current;
    conditions.unshift(
      able ??
        (rescale
          ? { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` }
          : { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }),
    );
    if (rescale) {
      const up = desired > current;
      const event = { at: now, change: Math.abs(desired - current) };
      history = up ? { ...history, scaleUpEvents: [...history.scaleUpEvents, event] } : { ...history, scaleDownEvents: [...history.scaleDownEvents, event] };
    }
    return { desiredReplicas: desired, rescale, ...(rescale && reason ? { reason } : {}), currentMetrics, conditions, history };
  };

  if (current === 0 && spec.minReplicas !== 0) {
    conditions.push({ type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' });
    return done(0, [], undefined);
  }
  if (current > spec.maxReplicas) {
    conditions.push({ type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' });
    return done(spec.maxReplicas, [], 'Current number of replicas above Spec.MaxReplicas');
  }
  if (current < spec.minReplicas) {
    conditions.push({ type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' });
    return done(spec.minReplicas, [], 'Current number of replicas below Spec.MinReplicas');
  }

  // Every metric's proposal; the largest wins.
  const currentMetrics: CurrentMetric[] = [];
  let proposed = 0;
  let proposedName = '';
  let invalid = 0;
  let firstError: { error: string; reason: string } | undefined;
  const supported = spec.metrics.filter((m) => m.type === 'Resource' || m.type === 'Pods');
  for (const m of supported) {
    const p = proposal(m, current, input.pods);
    if ('error' in p) {
      invalid++;
      firstError ??= p;
      continue;
    }
    currentMetrics.push(p.current);
    if (p.replicas > proposed) {
      proposed = p.replicas;
      proposedName = p.name;
    }
  }
  // All metrics failing, or some failing on what would be a scale down: do not scale.
  if (supported.length === 0 || invalid >= supported.length || (invalid > 0 && proposed < current)) {
    const err = firstError ?? { reason: 'InvalidMetricSourceType', error: 'no supported metric' };
    conditions.push({ type: 'ScalingActive', status: 'False', reason: err.reason, message: `the HPA was unable to compute the replica count: ${err.error}` });
    return done(current, currentMetrics, undefined, { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' });
  }
  conditions.push({ type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${proposedName}` });

  // Stabilisation: the lowest recommendation of the scale-up window and the highest of the
  // scale-down window bound the change (Kubernetes' stabilizeRecommendationWithBehaviors).
  const upCutoff = now - spec.behavior.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - spec.behavior.scaleDown.stabilizationWindowSeconds * 1000;
  let upRecommendation = proposed;
  let downRecommendation = proposed;
  for (const r of history.recommendations) {
    if (r.at > upCutoff) upRecommendation = Math.min(upRecommendation, r.replicas);
    if (r.at > downCutoff) downRecommendation = Math.max(downRecommendation, r.replicas);
  }
  let stabilized = current;
  if (stabilized < upRecommendation) stabilized = upRecommendation;
  if (stabilized > downRecommendation) stabilized = downRecommendation;
  history = { ...history, recommendations: [...history.recommendations, { at: now, replicas: proposed }] };
  let able: HpaCondition;
  if (stabilized !== proposed) {
    able =
      stabilized < proposed
        ? { type: 'AbleToScale', status: 'True', reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
        : { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' };
  } else {
    able = { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
  }

  // Rate limits and bounds (Kubernetes' convertDesiredReplicasWithBehaviorRate).
  let desired = stabilized;
  let limited: HpaCondition;
  if (desired > current) {
    const limit = Math.max(current, scaleUpLimit(current, history, spec.behavior.scaleUp, now));
    const [possible, reason, message] =
      spec.maxReplicas > limit
        ? [limit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
        : [spec.maxReplicas, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
    limited = desired > possible ? { type: 'ScalingLimited', status: 'True', reason, message } : withinRange();
    desired = Math.min(desired, possible);
  } else if (desired < current) {
    const limit = Math.min(current, scaleDownLimit(current, history, spec.behavior.scaleDown, now));
    const [possible, reason, message] =
      spec.minReplicas < limit
        ? [limit, 'ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate']
        : [spec.minReplicas, 'TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
    limited = desired < possible ? { type: 'ScalingLimited', status: 'True', reason, message } : withinRange();
    desired = Math.max(desired, possible);
  } else {
    limited = withinRange();
    if (desired > spec.maxReplicas) {
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
      desired = spec.maxReplicas;
    } else if (desired < spec.minReplicas) {
      limited = { type: 'ScalingLimited', status: 'True', reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
      desired = spec.minReplicas;
    }
  }
  conditions.push(limited);
  const reason = desired > current ? `${proposedName} above target` : 'All metrics below target';
  if (desired !== current) able = { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` };
  return done(desired, currentMetrics, reason, able);
}

function withinRange(): HpaCondition {
  return { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
}
