import { describe, expect, it } from 'vitest';
import * as scheduler from '../../src/scheduler/index.js';

describe('scheduler public surface', () => {
  it('grows only on purpose', () => {
    expect(Object.keys(scheduler).sort()).toEqual([
      'DEFAULT_WEIGHTS',
      'HOSTNAME_LABEL',
      'MAX_NODE_SCORE',
      'MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND',
      'MIN_FEASIBLE_NODES_TO_FIND',
      'REASON_AFFINITY',
      'REASON_CPU',
      'REASON_EXISTING_ANTI_AFFINITY',
      'REASON_MEMORY',
      'REASON_PODS',
      'REASON_POD_AFFINITY',
      'REASON_POD_ANTI_AFFINITY',
      'REASON_PORTS',
      'REASON_SPREAD',
      'REASON_SPREAD_LABEL',
      'REASON_UNSCHEDULABLE',
      'REASON_VOLUME_NODE',
      'Scheduler',
      'TAINT_NOT_READY',
      'TAINT_UNSCHEDULABLE',
      'compileScoringStrategy',
      'formatUnschedulable',
      'numCandidates',
      'numFeasibleNodesToFind',
      'parseSchedulerConfig',
      'placementProblem',
      'seededRandom',
    ]);
  });
});
