// Kustomization folders of a snapshot → validated objects. Every folder with a
// kustomization file is built; only those no other kustomization refers to (the top-level
// roots, e.g. overlays) contribute objects, and every file a build read is reported, so the
// caller does not read it again as a plain manifest.

import { validateDocument } from '../../api/index.js';
import type { Diagnostic } from '../../common/index.js';
import type { FileResult } from '../load-file.js';
import type { ParsedDocument } from '../types.js';
import { addHashSuffixes, buildKustomization, newContext, type KResource, type KustomizeReader } from './build.js';
import { KUSTOMIZATION_FILES, dirOf } from './paths.js';

export type { KustomizeReader } from './build.js';
export { strategicMerge } from './smp.js';
export { contentHash } from './transforms.js';
export { KUSTOMIZATION_FILES, isRemote, resolvePath } from './paths.js';

export interface KustomizeResult extends FileResult {
  /** Folders whose kustomization was rendered (not referred to by another one). */
  roots: string[];
  /** Every file some kustomization read (resources, patches, generator inputs, kustomizations). */
  reached: Set<string>;
}

/** Kustomization files among `paths`, at most one per folder (kustomize's order of names). */
export function kustomizationFiles(paths: Iterable<string>): string[] {
  const byDir = new Map<string, string>();
  const rank = (p: string) => KUSTOMIZATION_FILES.indexOf(p.slice(p.lastIndexOf('/') + 1) as (typeof KUSTOMIZATION_FILES)[number]);
  for (const p of paths) {
    if (rank(p) < 0) continue;
    const dir = dirOf(p);
    const cur = byDir.get(dir);
    if (cur === undefined || rank(p) < rank(cur)) byDir.set(dir, p);
  }
  return [...byDir.values()].sort();
}

function toSourced(r: KResource, out: FileResult): void {
  const doc: ParsedDocument = {
    file: r.origin.file,
    index: r.origin.index,
    position: r.origin.position,
    object: r.object as Record<string, unknown>,
    locate: r.origin.locate,
  };
  if (r.origin.item !== undefined) doc.item = r.origin.item;
  const v = validateDocument(doc);
  const top = r.via[r.via.length - 1];
  const tag = (d: Diagnostic): Diagnostic => (top && top !== d.file ? { ...d, message: `${d.message} (rendered by ${top})` } : d);
  for (const d of v.diagnostics) (d.severity === 'error' ? out.errors : out.warnings).push(tag(d));
  if (v.object) out.objects.push(v.object);
}

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = `${d.file}:${d.line ?? ''}:${d.column ?? ''}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Build every kustomization file in `files` and return what the top-level ones render. */
export async function renderKustomizations(files: string[], reader: KustomizeReader): Promise<KustomizeResult> {
  const ctx = newContext(reader);
  const builds: { dir: string; res: KResource[]; errors: Diagnostic[]; warnings: Diagnostic[] }[] = [];
  for (const file of files) {
    const before = { e: ctx.errors.length, w: ctx.warnings.length };
    const res = await buildKustomization(file, ctx);
    builds.push({ dir: dirOf(file), res, errors: ctx.errors.splice(before.e), warnings: ctx.warnings.splice(before.w) });
  }
  const out: KustomizeResult = { objects: [], errors: [], warnings: [], roots: [], reached: ctx.reached };
  for (const b of builds) {
    // A base is built through its overlays; its own build only told which folders it refers to.
    if (ctx.referenced.has(b.dir)) continue;
    out.roots.push(b.dir);
    out.errors.push(...b.errors);
    out.warnings.push(...b.warnings);
    addHashSuffixes(b.res);
    for (const r of b.res) toSourced(r, out);
  }
  out.errors = dedupe(out.errors);
  out.warnings = dedupe(out.warnings);
  return out;
}

