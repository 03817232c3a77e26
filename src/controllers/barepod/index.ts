// The bare Pod controller: kind Pod from Git, one pod record each, run like controller-made pods.
export { barePodController, barePodReconciler, barePodKeyOf, parseBarePodKey, barePodHash, barePod } from './controller.js';
export type { BarePodControllerOptions, BarePodReconcilerOptions } from './controller.js';
