// One parsed document → a defaulted object, or diagnostics at the exact field.

import type { ErrorObject } from 'ajv';
import { diagnostic } from '../common/index.js';
import type { Diagnostic, ErrorCode } from '../common/index.js';
import type { FieldPath, ParsedDocument } from './document.js';
import { checkObject, fieldPathString, isObj } from './checks.js';
import type { Report } from './checks.js';
import { admissionFieldPaths } from './admission.js';
import { applyDefaults } from './defaults.js';
import { checkHorizontalPodAutoscaler } from './hpa.js';
import { KNOWN_KINDS, validatorFor } from './kinds.js';
import { checkNotification } from './notification.js';
import { checkPersistentVolumeClaim } from './pvc.js';
import { KUBERNETES_FIELD_NAMES } from './kubernetes-fields.js';
import { closest } from './suggest.js';
import type { ManifestObject, SourcedObject } from './types.js';

const UNKNOWN_FIELD: ErrorCode = 'CAPSTAN_ERR_API_UNKNOWN_FIELD';

export interface ValidationResult {
  /** Set when there are no errors but unknown fields (warnings allowed): the object with defaults applied. */
  object?: SourcedObject;
  diagnostics: Diagnostic[];
}

export function validateDocument(doc: ParsedDocument): ValidationResult {
  const diagnostics: Diagnostic[] = [];
  const report: Report = (code, message, path, severity = 'error') => {
    diagnostics.push(diagnostic(severity, code, message, { file: doc.file, ...doc.locate(path) }, fieldPathString(path) || undefined));
  };
  const o = doc.object;
  if (o.apiVersion === undefined && o.kind === undefined && o.metadata === undefined) {
    // Some other tool's YAML (values, CI settings): say it is not read rather than fail the commit.
    report('CAPSTAN_ERR_API_NOT_AN_OBJECT', 'not a Kubernetes object (no apiVersion, kind or metadata): skipped; list the file in .capstanignore to silence this', [], 'warning');
    return { diagnostics };
  }
  if (!checkKind(o, report)) return { diagnostics };
  const apiVersion = o.apiVersion as string;
  const kind = o.kind as string;

  const validate = validatorFor(apiVersion, kind)!;
  if (!validate(o)) {
    // Secret values never reach a message, whatever the field.
    const hideValues = kind === 'Secret';
    for (const e of validate.errors ?? []) reportAjvError(e, o, hideValues, report);
  }
  checkObject(o, report);
  if (kind === 'HorizontalPodAutoscaler') checkHorizontalPodAutoscaler(o, report);
  if (kind === 'PersistentVolumeClaim') checkPersistentVolumeClaim(o, report);
  if (kind === 'Notification') checkNotification(o, report);
  diagnostics.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));

  // Unknown-field errors still give the object: a caller that allows unknown fields downgrades
  // them to warnings (see allowUnknownFields in render/desired.ts) and keeps it.
  if (diagnostics.some((d) => d.severity === 'error' && d.code !== UNKNOWN_FIELD)) return { diagnostics };
  const object = applyDefaults(o as ManifestObject);
  const source: SourcedObject['source'] = { file: doc.file, index: doc.index, line: doc.position.line, column: doc.position.column };
  if (doc.item !== undefined) source.item = doc.item;
  const paths = admissionFieldPaths(object);
  if (paths.length > 0) source.at = Object.fromEntries(paths.map((p) => [fieldPathString(p), doc.locate(p)]));
  return { object: { object, source }, diagnostics };
}

function checkKind(o: Record<string, unknown>, report: Report): boolean {
  let ok = true;
  for (const field of ['apiVersion', 'kind']) {
    const v = o[field];
    if (v === undefined) {
      report('CAPSTAN_ERR_API_REQUIRED', `${field} is required`, [field]);
      ok = false;
    } else if (typeof v !== 'string' || v === '') {
      report('CAPSTAN_ERR_API_SCHEMA', `${field} must be a non-empty string, got ${describe(v, false)}`, [field]);
      ok = false;
    }
  }
  if (!ok) return false;
  const { apiVersion, kind } = o as { apiVersion: string; kind: string };
  if (KNOWN_KINDS.some((k) => k.apiVersion === apiVersion && k.kind === kind)) return true;
  const sameKind = KNOWN_KINDS.find((k) => k.kind === kind);
  if (sameKind) {
    report(
      'CAPSTAN_ERR_API_UNKNOWN_KIND',
      `apiVersion "${apiVersion}" is not accepted for kind ${kind}: did you mean ${sameKind.apiVersion}?`,
      ['apiVersion'],
    );
    return false;
  }
  const kinds = KNOWN_KINDS.filter((k) => k.apiVersion === apiVersion).map((k) => k.kind);
  const guess = closest(kind, kinds) ?? closest(kind, KNOWN_KINDS.map((k) => k.kind));
  const guessVersion = guess ? KNOWN_KINDS.find((k) => k.kind === guess)!.apiVersion : undefined;
  const hint = guess
    ? `did you mean ${guessVersion === apiVersion ? guess : `${guessVersion} ${guess}`}?`
    : `Capstan accepts ${KNOWN_KINDS.map((k) => `${k.apiVersion} ${k.kind}`).join(', ')}`;
  report('CAPSTAN_ERR_API_UNKNOWN_KIND', `unknown kind ${apiVersion} ${kind}: ${hint}`, ['kind']);
  return false;
}

/** JSON pointer from ajv → field path, with array indexes as numbers (read off the data). */
function pointerToPath(pointer: string, root: unknown): Array<string | number> {
  if (pointer === '') return [];
  const out: Array<string | number> = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = isObj(cur) ? cur[seg] : undefined;
    }
  }
  return out;
}

function describe(v: unknown, hide: boolean): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (hide) return `a ${typeof v}`;
  if (typeof v === 'string') {
    const shown = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return `string ${JSON.stringify(shown)}`;
  }
  return `${typeof v} ${String(v)}`;
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function typeWords(t: unknown): string {
  const types = Array.isArray(t) ? t : [t];
  return types.map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(' or ');
}

function reportAjvError(e: ErrorObject, root: Record<string, unknown>, hide: boolean, report: Report): void {
  const base = pointerToPath(e.instancePath, root);
  const where = fieldPathString(base);
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const got = (): string => describe(e.data, hide);
  const at = (code: ErrorCode, message: string, path: FieldPath = base) => report(code, message, path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String((e.params as { additionalProperty: string }).additionalProperty);
      const path = [...base, field];
      const known = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {});
      const guess = closest(field, known);
      const hint = guess ? `; did you mean ${guess}?` : '';
      if (base[0] === 'spec' && !KUBERNETES_FIELD_NAMES.has(field)) {
        // Not a field of any Kubernetes or Argo Rollouts object: a typo, and ignoring it would
        // quietly fall back to a default (`replcas: 5` → 1 replica).
        report(UNKNOWN_FIELD, `${fieldPathString(path)} is not a field of ${String(root.kind)}${hint} (a commit with an unknown field is refused; --allow-unknown-fields makes this a warning)`, path);
        return;
      }
      report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString(path)} is not implemented by Capstan and is ignored${hint}`, path, 'warning');
      return;
    }
    case 'required': {
      const path = [...base, (e.params as { missingProperty: string }).missingProperty];
      at('CAPSTAN_ERR_API_REQUIRED', `${fieldPathString(path)} is required`, path);
      return;
    }
    case 'type': {
      const wantsString = e.schema === 'string';
      const scalar = typeof e.data === 'number' || typeof e.data === 'boolean';
      const hint = wantsString && scalar ? '; put it in quotes to make it a string' : '';
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must be ${typeWords(e.schema)}, got ${got()}${hint}`);
      return;
    }
    case 'enum':
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must be one of ${(e.schema as unknown[]).join(', ')}, got ${got()}`);
      return;
    case 'minimum':
    case 'maximum': {
      const { minimum, maximum } = parent as { minimum?: number; maximum?: number };
      const range =
        minimum !== undefined && maximum !== undefined
          ? `between ${minimum} and ${maximum}`
          : minimum !== undefined
            ? minimum === 0
              ? 'zero or more'
              : `at least ${minimum}`
            : `at most ${String(maximum)}`;
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must be ${range}, got ${got()}`);
      return;
    }
    case 'pattern':
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must be ${String(parent.hint ?? `a string matching ${String(e.schema)}`)}, got ${got()}`);
      return;
    case 'minLength':
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must not be empty`);
      return;
    case 'minItems': {
      const n = Number(e.schema);
      at('CAPSTAN_ERR_API_SCHEMA', `${where} must have at least ${n} item${n === 1 ? '' : 's'}`);
      return;
    }
    default:
      at('CAPSTAN_ERR_API_SCHEMA', `${where || 'the object'} ${e.message ?? 'is not valid'}`);
  }
}
