// Strategies by type. Canary and blue-green join as two more entries with the same signature.

import { CapstanError } from '../common/index.js';
import { blueGreen } from './bluegreen-strategy.js';
import { canary } from './canary-strategy.js';
import { recreate } from './recreate.js';
import { rollingUpdate } from './rolling.js';
import type { RolloutDecision, RolloutInput, RolloutStrategy, StrategyType } from './types.js';

export type StrategyRegistry = Readonly<Partial<Record<StrategyType, RolloutStrategy>>>;

export const DEFAULT_STRATEGIES: StrategyRegistry = Object.freeze({
  RollingUpdate: rollingUpdate,
  Recreate: recreate,
});

/** Every strategy, canary and blue-green included: what a control plane normally runs with. */
export const ALL_STRATEGIES: StrategyRegistry = Object.freeze({
  ...DEFAULT_STRATEGIES,
  Canary: canary,
  BlueGreen: blueGreen,
});

/** The next action for a rollout, by the strategy its spec names. */
export function nextRolloutAction(input: RolloutInput, strategies: StrategyRegistry = DEFAULT_STRATEGIES): RolloutDecision {
  const type = input.strategy.type;
  const strategy = Object.prototype.hasOwnProperty.call(strategies, type) ? strategies[type] : undefined;
  if (!strategy) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `spec.strategy.type: ${JSON.stringify(type)} has no implementation`, {
      field: 'spec.strategy.type',
      context: { type, known: Object.keys(strategies) },
    });
  }
  return strategy(input);
}
