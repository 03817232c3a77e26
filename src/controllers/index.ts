// Controllers: the generic reconcile loop (framework/) and, beside it, one folder per controller.
export {
  systemClock,
  VirtualClock,
  ExponentialBackoff,
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_MAX_MS,
  WorkQueue,
  Controller,
  watchSource,
  LeaderElector,
  CONTROLLER_LEASE_KEY,
  fenceKeyOf,
  fencedKV,
  ControllerManager,
  controllerMetrics,
  WatchCache,
  cachedKV,
} from './framework/index.js';
export type {
  Clock,
  TimerHandle,
  RateLimiter,
  ExponentialBackoffOptions,
  WorkQueueOptions,
  ControllerOptions,
  ControllerState,
  Reconciler,
  ReconcileContext,
  Result,
  Source,
  WatchSourceOptions,
  Fence,
  LeaderElectorOptions,
  LeaderRecord,
  LeaderState,
  ControllerManagerOptions,
  ControllerMetrics,
  WatchCacheOptions,
  WatchCacheState,
} from './framework/index.js';
export { SchedulingReconciler, schedulingController, SCHEDULING_KEY, REASON_UNSCHEDULABLE_POD, EVENT_FAILED_SCHEDULING } from './scheduling/index.js';
export type { SchedulingOptions, SchedulingControllerOptions, SchedulingPassResult } from './scheduling/index.js';
export { NodeLifecycleReconciler, nodeLifecycleController, DEFAULT_EVICTION_TIMEOUT_MS, NODE_NOT_READY_MESSAGE } from './nodes/index.js';
export type { NodeLifecycleOptions, NodeLifecycleControllerOptions, NodeAction } from './nodes/index.js';
export { EventRecorder, EVENT_COALESCE_MS, MAX_EVENTS_PER_NAMESPACE, EVENT_TTL_SECONDS } from './events.js';
export type { EventInput as RecorderEventInput, EventRecorderOptions } from './events.js';
export {
  createWorkloadControllers,
  workloadReconciler,
  revisionReconciler,
  planWorkload,
  planRevision,
  planHistory,
  templateHash,
  REVISION_HASH_LABEL,
  MAX_HISTORY,
} from './workload/index.js';
export type {
  WorkloadControllersOptions,
  WorkloadControllers,
  WorkloadReconcilerOptions,
  RevisionReconcilerOptions,
  StoredWorkloadStatus,
  WorkloadPlan,
  RevisionPlan,
} from './workload/index.js';
export { rolloutControlHandlers } from './rollout-control.js';
export { statefulSetController, CLAIMS_PREFIX } from './statefulset/index.js';
export type { StatefulSetStatus, StoredClaim } from './statefulset/index.js';
export { daemonSetController } from './daemonset/index.js';
export type { DaemonSetStatus } from './daemonset/index.js';
export { cronJobController, cronJobReconciler, parseSchedule, nextFireAfter, planCronJob, planJob } from './cronjob/index.js';
export { jobController, jobReconciler, gitJobHash } from './job/index.js';
export type { JobWorkloadStatus, JobControllerOptions } from './job/index.js';
export { barePodController, barePodReconciler } from './barepod/index.js';
export type { BarePodControllerOptions } from './barepod/index.js';
export { hpaController, hpaReconciler, storeMetricsSource, SCALE_PREFIX, NODE_METRICS_FIELD, HPA_KIND, DEFAULT_HPA_PERIOD_MS, scaleKey, readScale } from './hpa/index.js';
export type { HpaControllerOptions, HpaStatus, MetricsSource, PodUsage, ScaleRecord, NodeMetricsRecord, PodsMetricsProvider } from './hpa/index.js';
export type { StoreControllerOptions } from './store-controller.js';
