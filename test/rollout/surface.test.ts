import { describe, expect, it } from 'vitest';
import * as rollout from '../../src/rollout/index.js';

describe('rollout public surface', () => {
  it('grows only on purpose', () => {
    expect(Object.keys(rollout).sort()).toEqual([
      'DEFAULT_MAX_SURGE',
      'DEFAULT_MAX_UNAVAILABLE',
      'DEFAULT_STRATEGIES',
      'SmoothWeightedRoundRobin',
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
      'pausedDecision',
      'reconcileNewRevision',
      'reconcileOldRevisions',
      'recreate',
      'resolveFenceposts',
      'resolveRollingParams',
      'rollingUpdate',
      'scaledValue',
      'summarizePods',
    ]);
  });
});
