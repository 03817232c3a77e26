export { computePlan, hasChanges } from './plan.js';
export type { PlanInput } from './plan.js';
export { diffObjects, normalizeForDiff, deepEqual, SENSITIVE } from './diff.js';
export { previewRollout, isWorkload, strategyName } from './rollout-preview.js';
export { renderText, renderMarkdown, shortValue } from './render.js';
export { dryRunScheduling, withScheduling, memoryText, cpuText } from './scheduling.js';
export type { SchedulingInput } from './scheduling.js';
export { toProblem } from './types.js';
export type {
  Plan,
  Change,
  ChangeAction,
  FieldChange,
  RolloutPreview,
  SchedulingPreview,
  RolloutStrategyName,
  PlanSourceInfo,
  PlanProblem,
} from './types.js';
