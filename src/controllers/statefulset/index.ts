// StatefulSet controller: ordinal pods, ordered or parallel, partitioned rolling update, per-pod claims.
export { statefulSetController, statefulSetReconciler, observeStatefulSet, statefulSetKeyOf, parseStatefulSetKey, statefulSetKeys, CLAIMS_PREFIX } from './controller.js';
export type { StatefulSetControllerOptions, StatefulSetReconcilerOptions } from './controller.js';
export { planStatefulSet, statefulPod, templateOf, revisionHash, podName, claimName, ordinalOf, KIND as STATEFULSET_KIND, POD_NAME_LABEL, POD_INDEX_LABEL } from './plan.js';
export type { StatefulSetStatus, StoredClaim, ObservedStatefulSet, StatefulSetPlan, PlanKeys as StatefulSetKeys } from './plan.js';
