// Desired state of one source over time. The first update reads the whole snapshot; later
// updates read only the paths that changed between the last commit and the new one, and
// reuse every other file's result. This is what keeps a re-plan after a one-file commit fast
// on a repository of thousands of manifests.

import type { Source, SourceFile, SourceSnapshot } from '../source/types.js';
import { desiredFromSnapshot, FileResultCache, type DesiredOptions, type DesiredState } from './desired.js';
import { withReleases } from './load.js';

export class DesiredTracker {
  private files = new Map<string, SourceFile>();
  private last?: SourceSnapshot;

  private readonly options: DesiredOptions;

  constructor(
    private readonly source: Source,
    options: DesiredOptions = {},
  ) {
    // Unchanged files are looked up by blob id, never parsed twice.
    this.options = { ...options, cache: options.cache ?? new FileResultCache() };
  }

  /** The commit the last update read. */
  get commit(): string | undefined {
    return this.last?.commit;
  }

  async update(ref?: string): Promise<DesiredState> {
    const previous = this.last;
    let snapshot: SourceSnapshot;
    if (previous?.commit && this.source.kind !== 'folder') {
      const commit = await this.source.resolve(ref);
      if (commit === previous.commit) {
        snapshot = previous;
      } else {
        snapshot = await this.readChanged(previous, commit!, ref);
      }
    } else {
      snapshot = await this.source.snapshot(ref);
      this.files = new Map(snapshot.files.map((f) => [f.path, f]));
    }
    this.last = snapshot;
    return desiredFromSnapshot(snapshot, withReleases(this.source, snapshot, this.options));
  }

  private async readChanged(previous: SourceSnapshot, commit: string, ref: string | undefined): Promise<SourceSnapshot> {
    let changed: string[];
    try {
      changed = await this.source.changedPaths(previous.commit!, commit);
    } catch {
      // History was rewritten or the old commit is gone: read everything again.
      const full = await this.source.snapshot(ref);
      this.files = new Map(full.files.map((f) => [f.path, f]));
      return full;
    }
    const read = await this.source.readFiles(changed, commit);
    const changedSet = new Set(changed);
    for (const path of changed) this.files.delete(path);
    for (const file of read.files) this.files.set(file.path, file);
    // Problems found in files that did not change are still problems.
    const kept = previous.diagnostics.filter((d) => !changedSet.has(d.file));
    const files = [...this.files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return {
      ...previous,
      ref: ref ?? previous.ref,
      commit,
      files,
      diagnostics: [...kept, ...read.diagnostics],
      warnings: [],
    };
  }
}
