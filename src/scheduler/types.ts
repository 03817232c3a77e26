// Input and output shapes of the scheduler core. Field names follow the Kubernetes pod and
// node specs so the object model can map onto them directly; quantities arrive already
// parsed (cpu in millicores, memory in bytes).

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

export interface Toleration {
  /** Empty or missing with operator Exists tolerates every taint. */
  key?: string;
  /** Defaults to Equal. */
  operator?: 'Equal' | 'Exists';
  value?: string;
  /** Missing tolerates every effect. */
  effect?: TaintEffect;
}

export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator;
  values?: string[];
}

/** Requirements are ANDed. An empty term matches no node (as in Kubernetes). */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  /** Only the field `metadata.name` is supported, with In and NotIn. */
  matchFields?: NodeSelectorRequirement[];
}

export interface NodeAffinity {
  /** Terms are ORed. */
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: Array<{ weight: number; preference: NodeSelectorTerm }>;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface HostPort {
  port: number;
  protocol?: Protocol;
}

/** What the scheduler needs to know about a pod. */
export interface PodRequest {
  /** Stable identity of the pod (e.g. `namespace/name`), used by assume/forget. */
  id: string;
  /** The owning deployment or revision; pods of the same owner are spread across nodes. */
  owner?: string;
  /** Requested cpu in millicores. */
  cpu: number;
  /** Requested memory in bytes. */
  memory: number;
  hostPorts?: HostPort[];
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: NodeAffinity };
  tolerations?: Toleration[];
  /**
   * The node holding the pod's bound local volumes (its PersistentVolumeClaims): only that node
   * fits. Kubernetes' VolumeBinding filter; other nodes fail with "volume node affinity conflict".
   */
  volumeNode?: string;
}

export interface NodeInfo {
  name: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  /** cpu in millicores, memory in bytes, pods as a count (no pod limit when missing). */
  allocatable: { cpu: number; memory: number; pods?: number };
  /** Defaults to true. */
  ready?: boolean;
  /** Cordoned. Defaults to false. */
  unschedulable?: boolean;
}

/** A pod already placed on a node, for building the initial cluster view. */
export interface BoundPod extends PodRequest {
  node: string;
}

export interface ScoreWeights {
  leastAllocated: number;
  balancedAllocation: number;
  spread: number;
  nodeAffinity: number;
  taintToleration: number;
}

export type Decision =
  | {
      fits: true;
      node: string;
      /** Weighted score of the chosen node. */
      score: number;
      /** Nodes the filters ran on, and how many of them passed. */
      evaluatedNodes: number;
      feasibleNodes: number;
    }
  | {
      fits: false;
      /** kube-scheduler wording: `0/3 nodes are available: 2 Insufficient memory, ...`. */
      reason: string;
      /** How many nodes failed for each reason. */
      failures: Record<string, number>;
      evaluatedNodes: number;
      feasibleNodes: 0;
    };

export interface SchedulerOptions {
  nodes?: NodeInfo[];
  pods?: BoundPod[];
  /** Uniform random in [0, 1), used only to break ties; inject a seeded one for determinism. */
  random: () => number;
  /**
   * Percentage of nodes to find feasible before scoring; 0 or missing = adaptive
   * (50% - nodes/125, at least 5%, at least 100 nodes), 100 = every node.
   */
  percentageOfNodesToScore?: number;
  weights?: Partial<ScoreWeights>;
}
