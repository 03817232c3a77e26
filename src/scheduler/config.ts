// The scheduler's configuration file (`capstan server --scheduler-config <file>`): a small
// subset of kube-scheduler's, NodeResourcesFit's scoringStrategy, checked before anything runs.
import yaml from 'js-yaml';
import { CapstanError } from '../common/index.js';
import { compileScoringStrategy } from './scores.js';
import type { ScoringStrategy } from './types.js';

export interface SchedulerConfig {
  scoringStrategy?: ScoringStrategy;
}

/**
 * Parses the file's text (YAML or JSON): `scoringStrategy: {type, resources, requestedToCapacityRatio}`.
 * Errors name the file and the field.
 */
export function parseSchedulerConfig(text: string, file: string): SchedulerConfig {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${file}: not valid YAML or JSON: ${(err as Error).message}`, { field: file, cause: err });
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${file}: expected a mapping such as "scoringStrategy: {type: MostAllocated}"`, { field: file });
  }
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'scoringStrategy') {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${file}: ${k}: not a scheduler setting; the file takes scoringStrategy`, { field: k });
    }
  }
  if (o.scoringStrategy === undefined) return {};
  if (typeof o.scoringStrategy !== 'object' || o.scoringStrategy === null || Array.isArray(o.scoringStrategy)) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${file}: scoringStrategy: expected a mapping such as {type: MostAllocated}`, { field: 'scoringStrategy' });
  }
  const s = o.scoringStrategy as ScoringStrategy;
  try {
    compileScoringStrategy(s);
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${file}: ${(err as Error).message}`, { field: 'scoringStrategy', cause: err });
  }
  return { scoringStrategy: s };
}
