// One manifest file → validated objects and problems. Pure: the same path, bytes and options
// always give the same result, which is what lets results be cached by blob id.

import { validateDocument } from '../api/index.js';
import type { SourcedObject } from '../api/types.js';
import type { Diagnostic } from '../common/index.js';
import { parseManifestFast } from './fast-parse.js';

export interface FileResult {
  objects: SourcedObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

export interface LoadFileOptions {
  /** Namespace for objects that name none (a chart release's target namespace). */
  defaultNamespace?: string;
}

export function loadFile(file: { path: string; content: Uint8Array | string }, options: LoadFileOptions = {}): FileResult {
  const parsed = parseManifestFast(file);
  const result: FileResult = { objects: [], errors: [], warnings: [] };
  const sort = (d: Diagnostic) => (d.severity === 'error' ? result.errors : result.warnings).push(d);
  parsed.diagnostics.forEach(sort);
  for (const doc of parsed.documents) {
    const meta = doc.object.metadata;
    if (options.defaultNamespace && meta && typeof meta === 'object' && !Array.isArray(meta) && !('namespace' in meta)) {
      (meta as Record<string, unknown>).namespace = options.defaultNamespace;
    }
    const v = validateDocument(doc);
    v.diagnostics.forEach(sort);
    if (v.object) result.objects.push(v.object);
  }
  return result;
}
