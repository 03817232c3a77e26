// Control endpoints (sync, rollout steering). The server only routes and authorizes them;
// what they do is injected by whoever wires the control plane together.
import type { Principal } from './auth.js';

export const DEPLOYMENT_ACTIONS = ['promote', 'abort', 'retry', 'pause', 'resume', 'rollback'] as const;
export type DeploymentAction = (typeof DEPLOYMENT_ACTIONS)[number];

export interface ControlRequest {
  principal: Principal;
  /** The JSON body, if any (e.g. `{ "full": true }` for promote, `{ "toRevision": 3 }` for rollback). */
  body: unknown;
  query: URLSearchParams;
}

export interface WorkloadTarget {
  namespace: string;
  name: string;
}

export type DeploymentActionHandler = (target: WorkloadTarget, request: ControlRequest) => Promise<unknown>;

/** Each handler returns the JSON reply; a missing handler answers 501. Throw CapstanErrors. */
export interface ControlHandlers {
  sync?: (request: ControlRequest) => Promise<unknown>;
  promote?: DeploymentActionHandler;
  abort?: DeploymentActionHandler;
  retry?: DeploymentActionHandler;
  pause?: DeploymentActionHandler;
  resume?: DeploymentActionHandler;
  rollback?: DeploymentActionHandler;
}
