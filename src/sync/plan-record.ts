// What the store keeps of an applied commit's plan, for the dashboard: each changed object and
// its field changes as short strings, bounded in object count and bytes, kept for the newest
// commits of each source at `/capstan/syncplans/<source id>/<commit>`. Secret data never lands
// in it: the plan's diff hides it, and anything of a Secret outside its metadata, type and
// immutable flag is replaced by the same placeholder here as well. Pure: the loop writes.
import { STORE_PREFIX } from '../api/cluster.js';
import { SENSITIVE, shortValue, type Change, type FieldChange, type Plan } from '../plan/index.js';

/** Records kept per source; older ones are deleted in the transaction that adds a new one. */
export const PLAN_RECORDS_KEPT = 20;
export const PLAN_RECORD_MAX_OBJECTS = 200;
export const PLAN_RECORD_MAX_BYTES = 64 * 1024;
const MAX_FIELDS_PER_OBJECT = 50;
const MAX_VALUE_CHARS = 200;
const MAX_PATH_CHARS = 300;
const MAX_TEXT_CHARS = 200;

export interface SyncPlanField {
  path: string;
  /** The value before, as a short JSON text; absent when the field was added. */
  before?: string;
  /** The value after; absent when the field was removed. */
  after?: string;
  /** Secret data: `before`/`after` hold a placeholder. */
  sensitive?: true;
}

export interface SyncPlanObject {
  action: Change['action'];
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  file?: string;
  line?: number;
  release?: string;
  /** For an update every changed field; for a create or delete its top-level fields. */
  fields: SyncPlanField[];
  /** Fields left out to keep the record small. */
  fieldsOmitted?: number;
}

/** The plan a sync applied for one commit, at `/capstan/syncplans/<sourceId>/<commit>`. */
export interface SyncPlanRecord {
  sourceId: string;
  location: string;
  ref?: string;
  commit: string;
  /** The commit synced before this one, when there was one and it differs. */
  previousCommit?: string;
  /** `Name <email>` and the first message line, when the source can tell. */
  author?: string;
  message?: string;
  at: string;
  summary: Plan['summary'];
  /** Changed objects in the plan (the list below may hold fewer: see `truncated`). */
  changedObjects: number;
  objects: SyncPlanObject[];
  /** True when objects or fields were left out to stay within the record's bounds. */
  truncated: boolean;
}

export function syncPlanPrefix(sourceId: string): string {
  return `${STORE_PREFIX.syncPlans}${sourceId}/`;
}

export function syncPlanKey(sourceId: string, commit: string): string {
  return `${syncPlanPrefix(sourceId)}${commit}`;
}

/** Source id and commit of a record's key, or undefined for a key that is not one. */
export function parseSyncPlanKey(key: string): { sourceId: string; commit: string } | undefined {
  if (!key.startsWith(STORE_PREFIX.syncPlans)) return undefined;
  const rest = key.slice(STORE_PREFIX.syncPlans.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { sourceId: rest.slice(0, slash), commit: rest.slice(slash + 1) };
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Two long strings that differ: both shown from a little before their first difference, so
 * the change is visible within the limit.
 */
function shortPair(before: unknown, after: unknown): { before: string; after: string } {
  if (typeof before === 'string' && typeof after === 'string') {
    const a = JSON.stringify(before);
    const b = JSON.stringify(after);
    if (a.length > MAX_VALUE_CHARS || b.length > MAX_VALUE_CHARS) {
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      const start = Math.max(0, i - 40);
      const around = (s: string): string => {
        const head = start > 0 ? `…${s.slice(start)}` : s;
        return clip(head, MAX_VALUE_CHARS);
      };
      return { before: around(a), after: around(b) };
    }
  }
  return { before: shortValue(before, MAX_VALUE_CHARS), after: shortValue(after, MAX_VALUE_CHARS) };
}

/** Paths of a Secret whose values may be shown; everything else is its data. */
function secretPathShown(path: string): boolean {
  return /^(metadata|type|immutable)($|[.[])/.test(path);
}

export function recordField(kind: string, f: FieldChange): SyncPlanField {
  const path = clip(f.path, MAX_PATH_CHARS);
  const has = { before: 'from' in f, after: 'to' in f };
  if (f.sensitive || (kind === 'Secret' && !secretPathShown(f.path))) {
    return { path, ...(has.before ? { before: SENSITIVE } : {}), ...(has.after ? { after: SENSITIVE } : {}), sensitive: true };
  }
  if (has.before && has.after) return { path, ...shortPair(f.from, f.to) };
  if (has.before) return { path, before: shortValue(f.from, MAX_VALUE_CHARS) };
  return { path, after: shortValue(f.to, MAX_VALUE_CHARS) };
}

export function recordObject(c: Change): SyncPlanObject {
  const fields = c.fields.slice(0, MAX_FIELDS_PER_OBJECT).map((f) => recordField(c.kind, f));
  const omitted = c.fields.length - fields.length;
  return {
    action: c.action,
    apiVersion: c.apiVersion,
    kind: c.kind,
    namespace: c.namespace,
    name: c.name,
    ...(c.file !== undefined ? { file: c.file } : {}),
    ...(c.line !== undefined ? { line: c.line } : {}),
    ...(c.release !== undefined ? { release: c.release } : {}),
    fields,
    ...(omitted > 0 ? { fieldsOmitted: omitted } : {}),
  };
}

export interface PlanRecordInput {
  sourceId: string;
  location: string;
  ref?: string;
  commit: string;
  previousCommit?: string;
  author?: string;
  message?: string;
  at: Date;
  plan: Pick<Plan, 'changes' | 'summary'>;
}

/** The bounded record of a plan: at most PLAN_RECORD_MAX_OBJECTS objects and PLAN_RECORD_MAX_BYTES of JSON. */
export function buildPlanRecord(input: PlanRecordInput, limits: { maxObjects?: number; maxBytes?: number } = {}): SyncPlanRecord {
  const maxObjects = limits.maxObjects ?? PLAN_RECORD_MAX_OBJECTS;
  const maxBytes = limits.maxBytes ?? PLAN_RECORD_MAX_BYTES;
  const record: SyncPlanRecord = {
    sourceId: input.sourceId,
    location: input.location,
    ...(input.ref !== undefined ? { ref: input.ref } : {}),
    commit: input.commit,
    ...(input.previousCommit !== undefined && input.previousCommit !== input.commit ? { previousCommit: input.previousCommit } : {}),
    ...(input.author !== undefined ? { author: clip(input.author, MAX_TEXT_CHARS) } : {}),
    ...(input.message !== undefined ? { message: clip(input.message, MAX_TEXT_CHARS) } : {}),
    at: input.at.toISOString(),
    summary: input.plan.summary,
    changedObjects: input.plan.changes.length,
    objects: [],
    truncated: false, // the longer of the two words while measuring, so the final text is never longer
  };
  let bytes = Buffer.byteLength(JSON.stringify(record));
  let fieldsCut = false;
  for (const change of input.plan.changes) {
    if (record.objects.length >= maxObjects) break;
    const object = recordObject(change);
    const size = Buffer.byteLength(JSON.stringify(object)) + (record.objects.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) break;
    record.objects.push(object);
    bytes += size;
    if (object.fieldsOmitted) fieldsCut = true;
  }
  record.truncated = record.objects.length < input.plan.changes.length || fieldsCut;
  return record;
}

/**
 * The records of a source to delete when `key` is written, so that `keep` remain: the newest
 * by the revision they were written at, the new one counted among them.
 */
export function planRecordsToDelete(existing: { key: string; modRevision: number }[], key: string, keep = PLAN_RECORDS_KEPT): string[] {
  return existing
    .filter((e) => e.key !== key)
    .sort((a, b) => b.modRevision - a.modRevision)
    .slice(Math.max(0, keep - 1))
    .map((e) => e.key);
}
