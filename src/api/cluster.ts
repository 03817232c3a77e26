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
} as const;

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol: 'TCP' | 'UDP';
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: 'HTTP' | 'HTTPS'; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean }; prefix?: string }[];
  ports?: ContainerPort[];
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; httpGet?: Probe['httpGet'] } };
}

export interface Toleration {
  key?: string;
  operator?: 'Equal' | 'Exists';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface PodSpec {
  containers: ContainerSpec[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds: number;
  nodeSelector?: Record<string, string>;
  affinity?: unknown;
  tolerations?: Toleration[];
  hostNetwork?: boolean;
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
  startedAt?: string;
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
  status: { ready: boolean; lastHeartbeat: string; message?: string; address: string };
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
