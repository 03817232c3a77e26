import { describe, expect, it } from 'vitest';
import * as rollout from '../../src/rollout/index.js';

describe('rollout public surface', () => {
  it('grows only on purpose', () => {
    expect(Object.keys(rollout).sort()).toEqual([
      'ALL_STRATEGIES',
      'DEFAULT_MAX_SURGE',
      'DEFAULT_MAX_UNAVAILABLE',
      'DEFAULT_STRATEGIES',
      'SmoothWeightedRoundRobin',
      'blueGreen',
      'blueGreenParams',
      'canary',
      'canaryReplicas',
      'computeStatus',
      'finishDecision',
      'isComplete',
      'maxSurgeFor',
      'maxUnavailableFor',
      'nextRolloutAction',
      'oldPodsExist',
      'parseCanarySteps',
      'parseDuration',
      'parseProgressiveSteps',
      'pausedDecision',
      'reconcileNewRevision',
      'reconcileOldRevisions',
      'recreate',
      'resolveFenceposts',
      'resolveRollingParams',
      'rollingUpdate',
      'scaledValue',
      'stableOf',
      'stepsHash',
      'summarizePods',
    ]);
  });
});
