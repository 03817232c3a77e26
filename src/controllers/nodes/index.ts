// The node lifecycle controller: NotReady on lease expiry, pod eviction after a timeout.
export {
  NodeLifecycleReconciler,
  nodeLifecycleController,
  nodeAction,
  DEFAULT_EVICTION_TIMEOUT_MS,
  NODE_NOT_READY_MESSAGE,
  EVENT_NODE_NOT_READY,
  EVENT_EVICTED,
} from './controller.js';
export type { NodeLifecycleOptions, NodeLifecycleControllerOptions, NodeAction } from './controller.js';
