// ConfigMaps and Secrets marked `immutable: true`: once stored, a later commit may not change
// their data or drop the mark (Kubernetes refuses the update the same way). A new name is a new
// object, so renaming is how an immutable object's content changes.
import { diagnostic, type Diagnostic } from '../common/index.js';
import type { SourcedObject } from '../api/types.js';

const DATA_FIELDS: Record<string, string[]> = {
  ConfigMap: ['data', 'binaryData'],
  Secret: ['data', 'stringData'],
};

type StringMap = Record<string, string> | undefined;

/** Keys whose value differs between two maps (added, removed or changed), sorted. */
function changedKeys(a: StringMap, b: StringMap): string[] {
  const out = new Set<string>();
  for (const k of Object.keys(a ?? {})) if (b?.[k] !== a?.[k]) out.add(k);
  for (const k of Object.keys(b ?? {})) if (a?.[k] !== b?.[k]) out.add(k);
  return [...out].sort();
}

function locate(want: SourcedObject, field: string): { file: string; line: number; column: number } {
  const at = want.source.at?.[field];
  return { file: want.source.file, line: at?.line ?? want.source.line, column: at?.column ?? want.source.column };
}

/**
 * Errors for an update of an immutable ConfigMap or Secret: one per data field that changes
 * (naming the keys, never a value), and one when `immutable` is dropped.
 */
export function immutableViolations(have: SourcedObject, want: SourcedObject): Diagnostic[] {
  if (have.object.kind === 'Job' && want.object.kind === 'Job') return jobTemplateViolations(have, want);
  const fields = DATA_FIELDS[have.object.kind];
  if (fields === undefined || have.object.immutable !== true || want.object.kind !== have.object.kind) return [];
  const id = `${have.object.kind} ${have.object.metadata.namespace}/${have.object.metadata.name}`;
  const out: Diagnostic[] = [];
  for (const field of fields) {
    const keys = changedKeys(have.object[field] as StringMap, want.object[field] as StringMap);
    if (keys.length === 0) continue;
    out.push(
      diagnostic(
        'error',
        'CAPSTAN_ERR_API_IMMUTABLE',
        `${id} is immutable: ${field} may not change (keys ${keys.join(', ')}); give the changed object a new name and point its users at it`,
        locate(want, field),
        field,
      ),
    );
  }
  if (want.object.immutable !== true) {
    out.push(
      diagnostic('error', 'CAPSTAN_ERR_API_IMMUTABLE', `${id} is immutable: immutable: true cannot be removed; create the object under a new name instead`, locate(want, 'immutable'), 'immutable'),
    );
  }
  return out;
}

/**
 * A Job's spec.template, completions and completionMode may not change (Kubernetes refuses the
 * update): one error per changed field, naming it; deleting the Job from Git (or renaming it)
 * and adding it again runs the new spec.
 */
function jobTemplateViolations(have: SourcedObject, want: SourcedObject): Diagnostic[] {
  const spec = (o: SourcedObject): Record<string, unknown> => (o.object.spec ?? {}) as Record<string, unknown>;
  const id = `Job ${have.object.metadata.namespace}/${have.object.metadata.name}`;
  const out: Diagnostic[] = [];
  for (const f of ['template', 'completions', 'completionMode']) {
    if (JSON.stringify(spec(have)[f]) === JSON.stringify(spec(want)[f])) continue;
    const field = `spec.${f}`;
    const at = want.source.at?.[field] ?? want.source.at?.['spec'];
    out.push(
      diagnostic(
        'error',
        'CAPSTAN_ERR_API_IMMUTABLE',
        `${id}: ${field} is immutable; remove the Job from Git (or rename it) and add it again to run the new spec`,
        { file: want.source.file, line: at?.line ?? want.source.line, column: at?.column ?? want.source.column },
        field,
      ),
    );
  }
  return out;
}
