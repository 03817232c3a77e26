// The scheduling controller: binds pending pods to nodes through the scheduler core.
export {
  SchedulingReconciler,
  schedulingController,
  SCHEDULING_KEY,
  NODE_LEASES_PREFIX,
  REASON_UNSCHEDULABLE_POD,
  EVENT_FAILED_SCHEDULING,
  EVENT_SCHEDULED,
} from './controller.js';
export type { SchedulingOptions, SchedulingControllerOptions, SchedulingPassResult } from './controller.js';
export { podRequest, schedulerNode, boundPod, needsScheduling, holdsResources, ownerKey, podId, podKey, schedulingOrder } from './view.js';
