// Reading desired state from a location: the one path `validate`, `plan` and the sync loop share.

import { openSource } from '../source/index.js';
import type { Source, SourceOptions } from '../source/types.js';
import { desiredFromSnapshot, type DesiredOptions, type DesiredState } from './desired.js';

export interface LoadOptions extends SourceOptions, DesiredOptions {
  ref?: string;
}

export async function loadDesiredFrom(source: Source, options: LoadOptions = {}): Promise<DesiredState> {
  const snapshot = await source.snapshot(options.ref);
  return desiredFromSnapshot(snapshot, options);
}

export async function loadDesired(location: string, options: LoadOptions = {}): Promise<DesiredState> {
  const source = await openSource(location, options);
  return loadDesiredFrom(source, options);
}
