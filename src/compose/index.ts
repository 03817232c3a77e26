export { startControlPlane } from './control-plane.js';
export type { ControlPlane, ControlPlaneOptions } from './control-plane.js';
export { startControllers } from './controllers.js';
export type { ControllersOptions, RunningControllers } from './controllers.js';
export { startLocalCluster } from './local.js';
export type { LocalCluster, LocalClusterOptions } from './local.js';
