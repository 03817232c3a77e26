// The HorizontalPodAutoscaler: the pure arithmetic, the controller, the scale record and the metrics it reads.
export { decide, emptyHistory, scaleUpLimit, scaleDownLimit, TOLERANCE } from './algorithm.js';
export type { HpaPod, HpaHistory, HpaInput, HpaDecision, HpaCondition, CurrentMetric, ScaleEvent } from './algorithm.js';
export { hpaController, hpaReconciler, hpaKeyOf, hpaStatusKey, toHpaPod, HPA_KIND, DEFAULT_HPA_PERIOD_MS } from './controller.js';
export type { HpaControllerOptions, HpaReconcilerOptions, HpaStatus, MetricsSource, PodUsage } from './controller.js';
export { SCALE_PREFIX, scaleKey, readScale, decodeScale, scaleTargetKey } from './scale.js';
export type { ScaleRecord } from './scale.js';
export { storeMetricsSource, routerRequestRates, NODE_METRICS_FIELD } from './metrics.js';
export type { NodeMetricsRecord, PodsMetricsProvider, StoreMetricsSourceOptions, RevisionRequests } from './metrics.js';
