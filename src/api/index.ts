export { objectId, CAPSTAN_ANNOTATION_PREFIX } from './types.js';
export type { ObjectMeta, ManifestObject, ObjectRef, ObjectSource, SourcedObject } from './types.js';
export type { FieldPath, ParsedDocument, Position } from './document.js';
export { KNOWN_KINDS, isKnownKind, kindSchema } from './kinds.js';
export type { KindInfo } from './kinds.js';
export { validateDocument } from './validate.js';
export { POD_DNS_POLICIES, POD_MAX_NAMESERVERS, POD_MAX_SEARCHES } from './pod-dns.js';
export type { PodDnsConfigSpec, PodDnsPolicy } from './pod-dns.js';
export type { ValidationResult } from './validate.js';
export { findDuplicateObjects } from './duplicates.js';
export { admit, DEFAULT_MAX_REPLICAS } from './admission.js';
export type { AdmissionLimits, AdmissionResult } from './admission.js';
export type { ResourceQuota } from './quota.js';
export { checkAutoscalers, defaultBehavior, normalizeHpaSpec, REQUESTS_PER_SECOND_METRICS, SCALE_TARGETS } from './hpa.js';
export type { HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, HpaBehavior, HpaScalingPolicy, HpaScalingRules, MetricSpec, MetricTarget, NormalizedHpaSpec } from './hpa.js';
export { applyDefaults, pullPolicyFor, DEFAULT_NAMESPACE } from './defaults.js';
export { parseQuantity, quantityValue, parseDuration } from './quantity.js';
export { cronProblem } from './cron.js';
export { fieldPathString } from './checks.js';
export {
  dnsLabelProblem,
  dns1035LabelProblem,
  dnsSubdomainProblem,
  qualifiedNameProblem,
  labelValueProblem,
  repoPathProblem,
} from './names.js';
export type {
  Quantity,
  IntOrString,
  HttpGetAction,
  TcpSocketAction,
  ExecAction,
  Probe,
  LifecycleHandler,
  KeyRef,
  EnvVar,
  EnvFromSource,
  ContainerPort,
  ResourceList,
  Container,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  NodeAffinity,
  Toleration,
  PodSpec,
  PodTemplateSpec,
} from './pod.js';
export type {
  AnalysisRef,
  BackgroundAnalysis,
  CanaryStep,
  CanaryStrategy,
  BlueGreenStrategy,
  DeploymentStrategy,
  WorkloadSpec,
  Deployment,
  Rollout,
} from './workload.js';
export { checkWorkloadRefs } from './workload.js';
export { statefulSetSchema, daemonSetSchema } from './apps.js';
export type { StatefulSet, StatefulSetSpec, DaemonSet, DaemonSetSpec, VolumeClaimTemplate, ClaimRetention } from './apps.js';
export type {
  ServicePort,
  Service,
  ConfigMap,
  Secret,
  JobSpec,
  CronJob,
  MetricProvider,
  Metric,
  NoDataPolicy,
  AnalysisTemplate,
  ChartRelease,
} from './others.js';
export { exposesNodePorts, findNodePortConflicts, isHeadless, NODE_PORT_MAX, NODE_PORT_MIN } from './others.js';
export { checkIngress, ingressHostProblem, ingressSchema, INGRESS_CLASS } from './ingress.js';
export type { Ingress, IngressBackend, IngressPath, IngressRule, IngressTLS, PathType } from './ingress.js';
export { ACCESS_MODES, LOCAL_STORAGE_CLASSES, checkPersistentVolumeClaim, persistentVolumeClaimSchema } from './pvc.js';
export type { AccessMode, PersistentVolumeClaim, PersistentVolumeClaimSpec } from './pvc.js';
export { NOTIFICATION_TRIGGERS, SINK_TYPES, checkNotification, notificationSchema } from './notification.js';
export type {
  GitHubSink,
  GitLabSink,
  GiteaSink,
  LabelSelector,
  LabelSelectorRequirement,
  Notification,
  NotificationSink,
  NotificationTrigger,
  SecretKeySelector,
  SinkType,
  SlackSink,
  ValueFrom,
  WebhookSink,
} from './notification.js';
export { HIGHEST_USER_PRIORITY, SCHEDULER_NAMES, podDisruptionBudgetSchema, priorityClassSchema } from './scheduling.js';
export type { PodAffinity, PodAffinityTerm, PodDisruptionBudget, PodLabelSelector, PreemptionPolicy, PriorityClass, TopologySpreadConstraint } from './scheduling.js';
