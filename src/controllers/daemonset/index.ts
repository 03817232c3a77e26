// DaemonSet controller: one pod per matching node, rolling update bounded by maxUnavailable.
export { daemonSetController, daemonSetReconciler, observeDaemonSet, parseDaemonSetKey, daemonSetKeys } from './controller.js';
export type { DaemonSetControllerOptions, DaemonSetReconcilerOptions } from './controller.js';
export { planDaemonSet, shouldRun, specForNode, targetNode, daemonTemplate, maxUnavailableOf, DAEMON_TOLERATIONS, KIND as DAEMONSET_KIND } from './plan.js';
export type { DaemonSetStatus, ObservedDaemonSet, DaemonSetPlan, DaemonSetKeys } from './plan.js';
