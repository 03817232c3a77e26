import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CapstanError, diagnostic, type Diagnostic } from '../../common/index.js';
import type { FieldPath } from '../types.js';
import type { ValuesSource } from './types.js';
import { formatPath, hasPath } from './values.js';

const compiled = new WeakMap<object, ValidateFunction>();

/** Compile a chart's values.schema.json once; an invalid schema is the chart's error. */
export function compileSchema(file: string, schema: Record<string, unknown>): ValidateFunction {
  const hit = compiled.get(schema);
  if (hit) return hit;
  // No loadSchema: a remote $ref is never fetched. Formats are not checked (no ajv-formats),
  // and unknown keywords are allowed so Helm charts' schemas load unchanged.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CHART_INVALID', `values.schema.json is not a valid JSON Schema: ${(err as Error).message}`, {
      cause: err,
      location: { file },
    });
  }
  compiled.set(schema, validate);
  return validate;
}

function pathOf(instancePath: string): FieldPath {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function describe(e: ErrorObject): { path: FieldPath; message: string } {
  const path = pathOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...path, String(p.missingProperty)], message: 'is required' };
    case 'additionalProperties':
      return { path: [...path, String(p.additionalProperty)], message: 'is not a known value (the schema does not allow it)' };
    case 'enum':
      return { path, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}

/**
 * Check merged values against the schema. Each error names the value's path and points at the
 * source with the highest precedence that wrote it (or its nearest written parent).
 */
export function checkValues(
  values: Record<string, unknown>,
  schemaFile: string,
  validate: ValidateFunction,
  sources: ValuesSource[],
): Diagnostic[] {
  if (validate(values)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const errors = validate.errors ?? [];
  // oneOf/anyOf report every failed branch as well: fold them into one message per value.
  const unions = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const branchOf = (e: ErrorObject) =>
    unions.find((u) => u !== e && e.instancePath === u.instancePath && e.schemaPath.startsWith(u.schemaPath.replace(/\/(oneOf|anyOf)$/, '/$1/')));
  for (const e of errors) {
    if (e.keyword === 'if' || branchOf(e)) continue;
    const described = describe(e);
    const path = described.path;
    let message = described.message;
    if (unions.includes(e)) {
      const alternatives = errors.filter((b) => b !== e && branchOf(b) === e).map((b) => describe(b).message);
      if (alternatives.length > 0) message = [...new Set(alternatives)].join(', or ');
    }
    const label = formatPath(path) || '(values)';
    const text = `${label}: ${message}`;
    if (seen.has(text)) continue;
    seen.add(text);
    const where = locateValue(path, sources) ?? { file: schemaFile };
    out.push(diagnostic('error', 'CAPSTAN_ERR_CHART_VALUES', text, where, formatPath(path) || undefined));
  }
  return out;
}

function locateValue(path: FieldPath, sources: ValuesSource[]): { file: string; line?: number; column?: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n);
    for (let i = sources.length - 1; i >= 0; i--) {
      const src = sources[i];
      if (n > 0 && !hasPath(src.data, prefix)) continue;
      if (n === 0 && i !== sources.length - 1) continue;
      const pos = src.locate(prefix);
      return pos ? { file: src.file, line: pos.line, column: pos.column } : { file: src.file };
    }
  }
  return undefined;
}
