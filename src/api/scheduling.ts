// What pods say to the scheduler beyond node placement (inter-pod affinity, topology spread,
// priority, the scheduler that places them) and the two kinds preemption reads:
// scheduling.k8s.io/v1 PriorityClass and policy/v1 PodDisruptionBudget.

import type { Report } from './checks.js';
import { arr, bool, int, intOrPercent, labels, nonEmpty, obj, oneOfValues, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

export interface PodLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface PodAffinityTerm {
  labelSelector?: PodLabelSelector;
  namespaces?: string[];
  namespaceSelector?: PodLabelSelector;
  topologyKey: string;
}

export interface PodAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: Array<{ weight: number; podAffinityTerm: PodAffinityTerm }>;
}

export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: PodLabelSelector;
  minDomains?: number;
  nodeAffinityPolicy?: 'Honor' | 'Ignore';
  nodeTaintsPolicy?: 'Honor' | 'Ignore';
  matchLabelKeys?: string[];
}

export type PreemptionPolicy = 'PreemptLowerPriority' | 'Never';

/** The scheduler names Capstan answers to; a pod naming another is left for that scheduler. */
export const SCHEDULER_NAMES: readonly string[] = Object.freeze(['default-scheduler', 'capstan']);

/** scheduling.k8s.io/v1 PriorityClass: cluster-wide, its fields at the top level. */
export interface PriorityClass extends ManifestObject {
  apiVersion: 'scheduling.k8s.io/v1';
  kind: 'PriorityClass';
  value: number;
  globalDefault?: boolean;
  preemptionPolicy?: PreemptionPolicy;
  description?: string;
}

/** policy/v1 PodDisruptionBudget: how many of the selected pods a preemption may take away. */
export interface PodDisruptionBudget extends ManifestObject {
  apiVersion: 'policy/v1';
  kind: 'PodDisruptionBudget';
  spec: {
    selector?: PodLabelSelector;
    minAvailable?: number | string;
    maxUnavailable?: number | string;
  };
}

/** Kubernetes reserves values above one billion for system classes. */
export const HIGHEST_USER_PRIORITY = 1_000_000_000;

export function podLabelSelectorSchema(): Schema {
  const requirement = obj(
    { key: nonEmpty(), operator: oneOfValues(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: arr(str()) },
    ['key', 'operator'],
  );
  return obj({ matchLabels: labels(), matchExpressions: arr(requirement) });
}

function podAffinityTermSchema(): Schema {
  return obj(
    {
      labelSelector: podLabelSelectorSchema(),
      namespaces: arr(nonEmpty()),
      namespaceSelector: podLabelSelectorSchema(),
      topologyKey: nonEmpty(),
    },
    ['topologyKey'],
  );
}

export function podAffinitySchema(): Schema {
  return obj({
    requiredDuringSchedulingIgnoredDuringExecution: arr(podAffinityTermSchema()),
    preferredDuringSchedulingIgnoredDuringExecution: arr(obj({ weight: int(1, 100), podAffinityTerm: podAffinityTermSchema() }, ['weight', 'podAffinityTerm'])),
  });
}

export function topologySpreadSchema(): Schema {
  return arr(
    obj(
      {
        maxSkew: int(1),
        topologyKey: nonEmpty(),
        whenUnsatisfiable: oneOfValues(['DoNotSchedule', 'ScheduleAnyway']),
        labelSelector: podLabelSelectorSchema(),
        minDomains: int(1),
        nodeAffinityPolicy: oneOfValues(['Honor', 'Ignore']),
        nodeTaintsPolicy: oneOfValues(['Honor', 'Ignore']),
        matchLabelKeys: arr(nonEmpty()),
      },
      ['maxSkew', 'topologyKey', 'whenUnsatisfiable'],
    ),
  );
}

/** The pod spec fields of this file, merged into the pod spec schema. */
export function podSchedulingFields(): Record<string, Schema> {
  return {
    topologySpreadConstraints: topologySpreadSchema(),
    schedulerName: nonEmpty(),
    priorityClassName: nonEmpty(),
    priority: int(-2147483648, HIGHEST_USER_PRIORITY),
    preemptionPolicy: oneOfValues(['PreemptLowerPriority', 'Never']),
  };
}

export function priorityClassSchema(): Schema {
  return topLevel(
    {
      value: int(-2147483648, HIGHEST_USER_PRIORITY),
      globalDefault: bool(),
      preemptionPolicy: oneOfValues(['PreemptLowerPriority', 'Never']),
      description: str(),
    },
    ['value'],
  );
}

export function podDisruptionBudgetSchema(): Schema {
  return topLevel(
    {
      spec: obj({
        selector: podLabelSelectorSchema(),
        minAvailable: intOrPercent(),
        maxUnavailable: intOrPercent(),
      }),
    },
    ['spec'],
  );
}

// matchLabelKeys and mismatchLabelKeys of affinity terms and a budget's unhealthyPodEvictionPolicy
// are left out of the schemas, so they are reported as real fields Capstan does not apply.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rules JSON Schema cannot say for a PodDisruptionBudget. */
export function checkPodDisruptionBudget(spec: unknown, report: Report): void {
  if (!isObj(spec)) return;
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', 'set minAvailable or maxUnavailable, not both', ['spec', 'maxUnavailable']);
  }
}
