// Whether a pod may run on one given node by its placement rules alone (cordon, taints,
// nodeSelector and required node affinity), with the same filters the scheduler runs; free
// resources and ports are the scheduler's to decide when it binds. The DaemonSet controller
// uses this to pick the nodes that should run a daemon pod.
import { TAINT_UNSCHEDULABLE, NodeState, compilePod, toleratesAny } from './compile.js';
import { REASON_AFFINITY, REASON_UNSCHEDULABLE, matchNodeAffinity } from './filters.js';
import type { NodeInfo, PodRequest } from './types.js';

/** undefined when the node's placement rules admit the pod; else kube-scheduler's reason. */
export function placementProblem(pod: PodRequest, node: NodeInfo): string | undefined {
  const compiled = compilePod(pod);
  const state = new NodeState(node);
  if (state.unschedulable && !toleratesAny(compiled.tolerations, TAINT_UNSCHEDULABLE, '', 'NoSchedule')) return REASON_UNSCHEDULABLE;
  for (let i = 0; i < state.hardTaintKeys.length; i++) {
    if (!toleratesAny(compiled.tolerations, state.hardTaintKeys[i]!, state.hardTaintValues[i]!, state.hardTaintEffects[i]!)) return state.hardTaintReasons[i];
  }
  if (compiled.constrained && !matchNodeAffinity(compiled, state)) return REASON_AFFINITY;
  return undefined;
}
