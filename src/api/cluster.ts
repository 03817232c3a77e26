import type { Container, ContainerPort, EnvVar, PodSpec as ManifestPodSpec, Probe as ManifestProbe, Toleration } from './pod.js';
import type { SourcedObject } from './types.js';

// Objects the control plane creates and keeps in the store (not written by users in Git):
// pods, nodes, revisions and events. Shapes follow Kubernetes where it has them.

/** Key layout in the store: one prefix per object type, then namespace and name. */
export const STORE_PREFIX = {
  desired: '/capstan/desired/', // <kind>/<namespace>/<name> → DesiredRecord
  revisions: '/capstan/revisions/', // <namespace>/<workload>/<hash> → Revision
  pods: '/capstan/pods/', // <namespace>/<name> → Pod
  nodes: '/capstan/nodes/', // <name> → Node
  leases: '/capstan/leases/', // <holder kind>/<name> → lease owner record
  status: '/capstan/status/', // <kind>/<namespace>/<name> → WorkloadStatus
  events: '/capstan/events/', // <namespace>/<id> → ClusterEvent
  history: '/capstan/history/', // <namespace>/<workload>/<revision number, zero-padded> → HistoryEntry
  tokens: '/capstan/tokens/', // <sha256 of token> → TokenRecord
  sync: '/capstan/sync/', // state of the sync loop per source
  syncPlans: '/capstan/syncplans/', // <source id>/<commit> → SyncPlanRecord (the newest 20 applied commits per source)
  traffic: '/capstan/traffic/', // <namespace>/<service> → TrafficPolicy (written by the rollout controller)
  jobs: '/capstan/jobs/', // <namespace>/<name> → Job (run by the CronJob controller)
  proxySecrets: '/capstan/node-proxy-secrets/', // <node> → the secret the API server sends to that node's agent port (never served)
} as const;

/** What the store keeps for each desired object (`STORE_PREFIX.desired`), written by the sync loop. */
export interface DesiredRecord {
  object: SourcedObject['object'];
  source: SourcedObject['source'];
  /** The commit that last changed this object's spec. */
  commit?: string;
  /** That commit's author (`Name <email>`) and first message line, for history. */
  author?: string;
  commitMessage?: string;
  appliedAt: string;
}

/** One header or cookie test of a match route: exact, prefix or regex (first one set wins). */
export interface TrafficStringMatch {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
}

/**
 * How the router splits a Service's traffic between revisions. `weights` are per revision
 * hash (normally summing to 100); header routes (A/B, `setHeaderRoute`) are tried first.
 */
export interface TrafficPolicy {
  weights: Record<string, number>;
  headerRoutes?: { name: string; match: { header?: TrafficStringMatch; cookie?: TrafficStringMatch }; revision: string }[];
  /**
   * Mirror routes (`setMirrorRoute`): requests matching any `match` entry are also copied to
   * `revision`, `percentage` of them (default 100); the copy's response is discarded.
   */
  mirrorRoutes?: TrafficMirrorRoute[];
  stableRevision?: string;
  canaryRevision?: string;
}

/** A string test of a mirror route (no name: the method, path or header is implied). */
export type TrafficValueMatch = Omit<TrafficStringMatch, 'name'>;

export interface TrafficMirrorRoute {
  name: string;
  percentage?: number;
  match: { method?: TrafficValueMatch; path?: TrafficValueMatch; headers?: Record<string, TrafficValueMatch> }[];
  revision: string;
}

/** A probe after defaulting: every timing field is set. */
export type Probe = ManifestProbe &
  Required<Pick<ManifestProbe, 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds' | 'successThreshold' | 'failureThreshold'>>;

/** A container as the agent receives it: the manifest's container with probe defaults applied. */
export type ContainerSpec = Omit<Container, 'livenessProbe' | 'readinessProbe' | 'startupProbe'> & {
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
};

export type { ContainerPort, EnvVar, Toleration };

/** A pod's spec: the template's spec with defaults applied, and the node it is bound to. */
export interface PodSpec extends Omit<ManifestPodSpec, 'containers' | 'initContainers' | 'restartPolicy' | 'terminationGracePeriodSeconds'> {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds: number;
  /** Set by the scheduler when the pod is bound. */
  nodeName?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface ContainerStatus {
  name: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state:
    | { waiting: { reason: string; message?: string } }
    | { running: { startedAt: string } }
    | { terminated: { exitCode: number; reason: string; message?: string; finishedAt: string } };
  /** Runtime id (container id or process id). */
  id?: string;
}

export interface PodStatus {
  phase: PodPhase;
  /** Ready condition: every container ready. */
  ready: boolean;
  /** When the pod last became ready (for minReadySeconds). */
  readySince?: string;
  reason?: string;
  message?: string;
  hostIP?: string;
  /** Host ports the runtime bound, by container port name or number: how the router reaches it. */
  ports?: Record<string, number>;
  containerStatuses?: ContainerStatus[];
  /** The init containers' statuses, in order (sidecars among them); never counted in READY. */
  initContainerStatuses?: ContainerStatus[];
  startedAt?: string;
  /** Set by the scheduler when it preempted pods on this node to make room for this pod. */
  nominatedNodeName?: string;
  /**
   * Set by the agent once every container of a pod with `deletionRequestedAt` has stopped
   * (or a pod that will never run again has finished): the pod's key may then be removed.
   */
  terminatedAt?: string;
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    /** The workload and revision that own the pod. */
    owner: { kind: string; name: string; revision: string };
    createdAt: string;
    /** Set when the pod should stop; the agent terminates it gracefully, then it is removed. */
    deletionRequestedAt?: string;
  };
  spec: PodSpec;
  status: PodStatus;
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  unschedulable?: boolean;
  /** cpu in millicores, memory in bytes. */
  capacity: { cpu: number; memory: number; pods: number };
  runtime: 'docker' | 'process';
  /** The agent runs privileged containers (`--allow-privileged`); others refuse them. */
  allowPrivileged?: boolean;
  status: {
    ready: boolean;
    lastHeartbeat: string;
    message?: string;
    address: string;
    /** Kubernetes' node addresses (InternalIP, Hostname). */
    addresses?: { type: string; address: string }[];
    /** The agent's own port (logs and exec, called by the API server only), as the kubelet's. */
    daemonEndpoints?: { kubeletEndpoint: { port: number; /** `https` when it serves TLS with the node's certificate. */ scheme?: 'https' } };
  };
}

export interface ClusterEvent {
  namespace: string;
  /** The object the event is about, as `Kind/name`. */
  object: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  source: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** A ReplicaSet-like revision of a workload: one pod template, named by its hash. */
export interface Revision {
  metadata: {
    /** `<workload>-<hash>` */
    name: string;
    namespace: string;
    owner: { kind: string; name: string };
    /** The template hash (also the pods' `capstan.dev/revision-hash` label). */
    hash: string;
    /** 1, 2, 3...: the workload's revision number, as `kubectl rollout history` shows. */
    revision: number;
    createdAt: string;
    /** The Git commit the template came from. */
    commit?: string;
    /** An experiment's pod group: the Rollout (same namespace) that runs it and removes it. */
    experimentOf?: string;
  };
  /** The pod template with defaults applied. */
  template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  /** How many pods this revision should have now (set by the workload controller). */
  replicas: number;
  /** Canary/blue-green role of this revision, when the strategy gives it one. */
  role?: 'stable' | 'canary' | 'preview' | 'active';
}

export type WorkloadPhase = 'Progressing' | 'Healthy' | 'Degraded' | 'Paused' | 'Suspended';

/** What `capstan get deployments` and `capstan status` show (contract.md), kept per workload. */
export interface WorkloadStatus {
  namespace: string;
  name: string;
  kind: string;
  phase: WorkloadPhase;
  /** The current (newest) revision number. */
  revision: number;
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  updatedReplicas: number;
  syncedCommit?: string;
  message: string;
  conditions: { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime: string }[];
  /** Canary: step index (0-based, = stepCount when done), step count and the weight set now. */
  step?: number;
  stepCount?: number;
  weight?: number;
  /** When the rollout last made progress (for progressDeadlineSeconds). */
  lastProgressAt?: string;
  observedAt: string;
}

export type HistoryOutcome = 'Healthy' | 'Degraded' | 'Aborted' | 'RolledBack' | 'Superseded' | 'Progressing';

/** One rollout of a workload, as `capstan history` shows (contract.md). */
export interface HistoryEntry {
  /** The workload's namespace and name (the API lists history by namespace). */
  namespace: string;
  name: string;
  kind: string;
  revision: number;
  commit?: string;
  author?: string;
  message?: string;
  images: string[];
  createdAt: string;
  finishedAt?: string;
  outcome: HistoryOutcome;
  trigger: 'push' | 'rollback' | 'retry' | 'live-rollback' | 'scale';
}

/** What one drain request did and what is still on the node. */
export interface DrainStep {
  node: string;
  /** Whether this request set `unschedulable` (false when the node was cordoned already). */
  cordoned: boolean;
  /** `namespace/name` of the pods asked to stop (or removed) by this request. */
  evicted: string[];
  /** Pods bound to the node that still run or are stopping. */
  remaining: string[];
  /** Pods no controller would recreate (evicted only with force). */
  unmanaged: string[];
  /** DaemonSet pods on the node: left running (their controller would put them back). */
  daemonSet?: string[];
  /** Nothing runs on the node any more. */
  done: boolean;
}
