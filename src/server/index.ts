// The API server: HTTP routes over the store, bearer-token auth, SSE watches, /metrics.
export { buildServer } from './server.js';
export type { ServerOptions, ListenOptions, CapstanServer, RawRequestHandler } from './server.js';
export type { ConnectionLimits } from './connections.js';
export {
  ROLES,
  createToken,
  bootstrapAdminToken,
  authenticate,
  lookupToken,
  listTokens,
  revokeToken,
  hashToken,
  allowed,
} from './auth.js';
export type { Role, TokenRecord, Principal, CreateTokenOptions, CreatedToken, Access } from './auth.js';
export { DEPLOYMENT_ACTIONS } from './control.js';
export type { ControlHandlers, ControlRequest, DeploymentAction, DeploymentActionHandler, WorkloadTarget } from './control.js';
export { NODE_LEASE_PREFIX, heartbeatNode, writePodStatus } from './agent.js';
export type { NodeHeartbeatResult, HeartbeatOptions } from './agent.js';
export { DEFAULT_BODY_LIMIT_BYTES, statusForError } from './http.js';
export { resources, parseDesired } from './resources.js';
export type { Resource, ApiEvent, WatchType } from './resources.js';
export { httpMetrics } from './metrics.js';
export type { HttpMetrics } from './metrics.js';
