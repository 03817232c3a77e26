// From a source snapshot to the desired objects: parse every manifest, build kustomizations,
// render chart releases, validate, and find duplicate identities. Per-file work is a pure function of (path, bytes),
// so it is cached by Git blob id: a re-plan after a one-file commit parses one file.

import { admit, checkAutoscalers, checkWorkloadRefs, findDuplicateObjects, findNodePortConflicts, type AdmissionLimits } from '../api/index.js';
import type { SourcedObject } from '../api/types.js';
import type { Diagnostic } from '../common/index.js';
import type { SourceFile, SourceSnapshot } from '../source/types.js';
import { kustomizationFiles, renderKustomizations, type KustomizeReader } from './kustomize/index.js';
import { loadFile, type FileResult } from './load-file.js';

export type { FileResult };

export interface DesiredState {
  snapshot: Pick<SourceSnapshot, 'kind' | 'location' | 'ref' | 'commit'>;
  objects: SourcedObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Chart folders found in the source (their files are templates, not manifests). */
  charts: string[];
  /** Kustomization folders rendered (those no other kustomization refers to). */
  kustomizations: string[];
}

/**
 * Results per file, keyed by blob id and path. Results hold no positions objects or ASTs,
 * only plain data, so a cache stays small and could be written to disk as JSON.
 */
export class FileResultCache {
  private readonly entries = new Map<string, FileResult>();
  constructor(private readonly maxEntries = 100_000) {}

  get(file: SourceFile): FileResult | undefined {
    return this.entries.get(`${file.blobId}\0${file.path}`);
  }

  set(file: SourceFile, result: FileResult): void {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(`${file.blobId}\0${file.path}`, result);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Folders holding a Chart.yaml: their YAML files are templates, not manifests. */
export function chartRoots(files: ReadonlyArray<Pick<SourceFile, 'path'>>): string[] {
  return files.filter((f) => f.path === 'Chart.yaml' || f.path.endsWith('/Chart.yaml')).map((f) => f.path.slice(0, -'Chart.yaml'.length));
}

function underAny(path: string, roots: string[]): boolean {
  return roots.some((r) => r === '' || path.startsWith(r));
}

export interface DesiredOptions {
  cache?: FileResultCache;
  /**
   * Renders the chart releases among the objects (see render/releases.ts); absent, releases
   * are kept as objects but render nothing.
   */
  renderReleases?: (releases: SourcedObject[]) => Promise<FileResult>;
  /** Report the same kind/namespace/name defined twice (default true). */
  checkDuplicates?: boolean;
  /** Limits the whole commit must meet (replicas per workload; quotas come from the objects). */
  admission?: Partial<AdmissionLimits>;
  /** `--allow-unknown-fields`: a field no Kubernetes object has is a warning, not a refused commit. */
  allowUnknownFields?: boolean;
  /**
   * Reads any repository file at the snapshot's commit (kustomize patches, generator inputs,
   * bases outside the snapshot's paths); absent, only the snapshot's manifest files are read.
   */
  readFile?: (path: string) => Promise<Uint8Array | undefined>;
}

/** A reader over the snapshot's files, falling back to `readFile` for the rest. */
function snapshotReader(snapshot: SourceSnapshot, readFile: DesiredOptions['readFile']): KustomizeReader {
  const byPath = new Map(snapshot.files.map((f) => [f.path, f]));
  return {
    async readFile(path) {
      const hit = byPath.get(path);
      if (hit) return hit.content;
      if (!readFile) return undefined;
      try {
        return await readFile(path);
      } catch {
        // A path the source refuses (a folder, an escaping symlink) reads as missing here.
        return undefined;
      }
    },
    blobId: (path) => byPath.get(path)?.blobId,
  };
}

/** `--allow-unknown-fields`: unknown-field errors become warnings, in place. */
export function allowUnknownFields(errors: Diagnostic[], warnings: Diagnostic[]): void {
  const unknown = errors.filter((d) => d.code === 'CAPSTAN_ERR_API_UNKNOWN_FIELD');
  if (unknown.length === 0) return;
  errors.splice(0, errors.length, ...errors.filter((d) => d.code !== 'CAPSTAN_ERR_API_UNKNOWN_FIELD'));
  for (const d of unknown) warnings.push({ ...d, severity: 'warning', message: d.message.replace(/ \(a commit with an unknown field is refused; [^)]*\)$/, ' (ignored: --allow-unknown-fields)') });
}

/** Every desired object of a snapshot, with all problems found (none hidden, none thrown). */
export async function desiredFromSnapshot(snapshot: SourceSnapshot, options: DesiredOptions = {}): Promise<DesiredState> {
  const roots = chartRoots(snapshot.files);
  const objects: SourcedObject[] = [];
  const errors: Diagnostic[] = [...snapshot.diagnostics];
  const warnings: Diagnostic[] = [...snapshot.warnings];
  const kfiles = kustomizationFiles(snapshot.files.map((f) => f.path));
  let kustomized: Awaited<ReturnType<typeof renderKustomizations>> | undefined;
  let kroots: string[] = [];
  if (kfiles.length > 0) {
    kustomized = await renderKustomizations(kfiles, snapshotReader(snapshot, options.readFile));
    kroots = kfiles.map((f) => f.slice(0, f.lastIndexOf('/') + 1));
    objects.push(...kustomized.objects);
    errors.push(...kustomized.errors);
    warnings.push(...kustomized.warnings);
  }
  for (const file of snapshot.files) {
    if (underAny(file.path, roots)) continue;
    // Files of a kustomization folder, and files a kustomization reads, are rendered through it.
    if (kustomized && (underAny(file.path, kroots) || kustomized.reached.has(file.path))) continue;
    let result = options.cache?.get(file);
    if (!result) {
      result = loadFile(file);
      options.cache?.set(file, result);
    }
    objects.push(...result.objects);
    errors.push(...result.errors);
    warnings.push(...result.warnings);
  }
  const releases = objects.filter((o) => o.object.kind === 'ChartRelease');
  if (releases.length > 0 && options.renderReleases) {
    const rendered = await options.renderReleases(releases);
    objects.push(...rendered.objects);
    errors.push(...rendered.errors);
    warnings.push(...rendered.warnings);
  }
  if (options.allowUnknownFields) allowUnknownFields(errors, warnings);
  if (options.checkDuplicates !== false) errors.push(...findDuplicateObjects(objects));
  errors.push(...findNodePortConflicts(objects));
  errors.push(...admit(objects, options.admission).errors);
  errors.push(...checkWorkloadRefs(objects));
  const autoscalers = checkAutoscalers(objects);
  errors.push(...autoscalers.errors);
  warnings.push(...autoscalers.warnings);
  return {
    snapshot: { kind: snapshot.kind, location: snapshot.location, ref: snapshot.ref, commit: snapshot.commit },
    objects,
    errors,
    warnings,
    charts: roots.map((r) => r.replace(/\/$/, '')),
    kustomizations: kustomized?.roots ?? [],
  };
}
