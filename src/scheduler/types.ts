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

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** A pod label selector. `{}` matches every pod; a missing selector in an affinity term matches none. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: LabelSelectorOperator; values?: string[] }>;
}

/** One inter-pod (anti-)affinity term: pods matching the selector, in the term's namespaces, per topology domain. */
export interface PodAffinityTerm {
  labelSelector?: LabelSelector | null;
  /** Namespaces whose pods are matched; with no namespaceSelector and none listed, the pod's own. */
  namespaces?: string[];
  /** `{}` matches every namespace; otherwise namespaces by their labels (`namespaceLabels`). */
  namespaceSelector?: LabelSelector | null;
  topologyKey: string;
}

export interface WeightedPodAffinityTerm {
  weight: number;
  podAffinityTerm: PodAffinityTerm;
}

export interface PodAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedPodAffinityTerm[];
}

export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector | null;
  /** DoNotSchedule only: with fewer eligible domains than this, the global minimum is 0. */
  minDomains?: number;
  /** Honor (default): only nodes the pod's nodeSelector/node affinity admit count. */
  nodeAffinityPolicy?: 'Honor' | 'Ignore';
  /** Ignore (default): tainted nodes count too; Honor: only nodes whose taints the pod tolerates. */
  nodeTaintsPolicy?: 'Honor' | 'Ignore';
  /** Label keys of the incoming pod whose values are added to the selector. */
  matchLabelKeys?: string[];
}

export type PreemptionPolicy = 'PreemptLowerPriority' | 'Never';

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
  affinity?: { nodeAffinity?: NodeAffinity; podAffinity?: PodAffinity; podAntiAffinity?: PodAffinity };
  tolerations?: Toleration[];
  /** Defaults to the part of `id` before `/`, else `default`. */
  namespace?: string;
  labels?: Record<string, string>;
  topologySpreadConstraints?: TopologySpreadConstraint[];
  /** spec.priority, resolved from its PriorityClass (default 0). */
  priority?: number;
  /** Defaults to PreemptLowerPriority. */
  preemptionPolicy?: PreemptionPolicy;
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
  /** Already being deleted: still holds its room, never picked as a preemption victim. */
  terminating?: boolean;
  /** When it started (ms), for preemption's tie-break: the node whose victims started last wins. */
  startTime?: number;
}

/** A PodDisruptionBudget as preemption needs it: the pods it covers and how many may go now. */
export interface DisruptionBudget {
  namespace: string;
  selector: LabelSelector;
  /** status.disruptionsAllowed: healthy pods above what the budget must keep. */
  disruptionsAllowed: number;
}

export type ScoringStrategyType = 'LeastAllocated' | 'MostAllocated' | 'RequestedToCapacityRatio';

/** NodeResourcesFit's scoringStrategy (kube-scheduler config). */
export interface ScoringStrategy {
  type: ScoringStrategyType;
  /** Weights of cpu and memory (default 1 each). */
  resources?: Array<{ name: 'cpu' | 'memory'; weight: number }>;
  /** RequestedToCapacityRatio: utilization 0..100 → score 0..10, linear between points. */
  requestedToCapacityRatio?: { shape: Array<{ utilization: number; score: number }> };
}

/** What preemption found: the node the pod was nominated to and the pods to evict there. */
export interface Preemption {
  node: string;
  victims: string[];
  /** Victims whose eviction goes against a PodDisruptionBudget (taken only when no node avoids it). */
  pdbViolations: number;
}

export interface ScoreWeights {
  leastAllocated: number;
  balancedAllocation: number;
  spread: number;
  nodeAffinity: number;
  taintToleration: number;
  interPodAffinity: number;
  topologySpread: number;
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
      /** Set by `preempt()` when evicting lower-priority pods makes room. */
      preemption?: Preemption;
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
  /** NodeResourcesFit scoring; LeastAllocated by default. */
  scoringStrategy?: ScoringStrategy;
  /** Namespace labels, for affinity terms' namespaceSelector. */
  namespaceLabels?: Record<string, Record<string, string>>;
  /** DefaultPreemption's minCandidateNodesPercentage (10) and minCandidateNodesAbsolute (100). */
  minCandidateNodesPercentage?: number;
  minCandidateNodesAbsolute?: number;
}
