// Reading desired state from a location: the one path `validate`, `plan` and the sync loop share.

import { openSource } from '../source/index.js';
import type { Source, SourceOptions, SourceSnapshot } from '../source/types.js';
import { desiredFromSnapshot, type DesiredOptions, type DesiredState } from './desired.js';
import { releaseRenderer, sourceChartRepo } from './releases.js';

export interface LoadOptions extends SourceOptions, DesiredOptions {
  ref?: string;
}

/** Options that render chart releases from the same source, at the snapshot's commit. */
export function withReleases(source: Source, snapshot: Pick<SourceSnapshot, 'commit'>, options: DesiredOptions): DesiredOptions {
  const readFile = options.readFile ?? ((path: string) => source.readFile(path, snapshot.commit));
  if (options.renderReleases) return { ...options, readFile };
  return { ...options, readFile, renderReleases: releaseRenderer(sourceChartRepo(source, snapshot.commit)) };
}

export async function loadDesiredFrom(source: Source, options: LoadOptions = {}): Promise<DesiredState> {
  const snapshot = await source.snapshot(options.ref);
  return desiredFromSnapshot(snapshot, withReleases(source, snapshot, options));
}

export async function loadDesired(location: string, options: LoadOptions = {}): Promise<DesiredState> {
  const source = await openSource(location, options);
  return loadDesiredFrom(source, options);
}
