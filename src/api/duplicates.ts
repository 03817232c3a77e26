// The same kind/namespace/name defined twice, within one file or across files.

import { diagnostic } from '../common/index.js';
import type { Diagnostic } from '../common/index.js';
import { objectId } from './types.js';
import type { SourcedObject } from './types.js';

/** One error per repeat, at the repeat, naming where the object was first defined. */
export function findDuplicateObjects(objects: SourcedObject[]): Diagnostic[] {
  const first = new Map<string, SourcedObject['source']>();
  const out: Diagnostic[] = [];
  for (const { object, source } of objects) {
    const id = objectId({ kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name });
    const prev = first.get(id);
    if (!prev) {
      first.set(id, source);
      continue;
    }
    const where = `${prev.file}:${prev.line}:${prev.column}`;
    out.push(
      diagnostic(
        'error',
        'CAPSTAN_ERR_RENDER_DUPLICATE_OBJECT',
        `${object.kind} ${object.metadata.namespace ?? 'default'}/${object.metadata.name} is defined twice: also defined at ${where}`,
        { file: source.file, line: source.line, column: source.column },
      ),
    );
  }
  return out;
}
