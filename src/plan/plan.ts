// Desired objects against a current set → the list of changes a sync would make.

import { objectId, type SourcedObject } from '../api/types.js';
import { diagnostic, type Diagnostic } from '../common/index.js';
import { diffObjects } from './diff.js';
import { immutableViolations } from './immutable.js';
import { previewRollout } from './rollout-preview.js';
import { toProblem, type Change, type Plan, type PlanSourceInfo } from './types.js';

export interface PlanInput {
  source: PlanSourceInfo;
  desired: SourcedObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
  base: Plan['base'];
  /** What exists now: nothing, the objects of the base ref, or live objects. */
  current: SourcedObject[];
}

// Creates in dependency order (namespaces, then config before workloads before services); deletes reversed.
const KIND_ORDER = ['Namespace', 'ConfigMap', 'Secret', 'PersistentVolumeClaim', 'AnalysisTemplate', 'ChartRelease', 'Deployment', 'Rollout', 'CronJob', 'Service'];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

function releaseLabel(o: SourcedObject): string | undefined {
  const r = o.source.release;
  return r ? `${r.namespace}/${r.name}` : undefined;
}

function change(action: Change['action'], from: SourcedObject | undefined, to: SourcedObject | undefined): Change {
  const subject = (to ?? from)!;
  const o = subject.object;
  const c: Change = {
    action,
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    file: subject.source.file,
    line: subject.source.line,
    fields: diffObjects(from?.object, to?.object),
  };
  const release = releaseLabel(subject);
  if (release) c.release = release;
  const rollout = previewRollout(from?.object, to?.object);
  if (rollout) c.rollout = rollout;
  return c;
}

/**
 * Compare desired with current. Every difference is reported: a plan never hides a change.
 * With errors present the changes are still computed (so a reviewer sees both), but a sync
 * applies nothing.
 */
export function computePlan(input: PlanInput): Plan {
  const current = new Map(input.current.map((o) => [idOf(o), o]));
  const changes: Change[] = [];
  let unchanged = 0;
  const seen = new Set<string>();
  const refused: Diagnostic[] = [];
  for (const want of input.desired) {
    const id = idOf(want);
    seen.add(id);
    const have = current.get(id);
    if (!have) {
      changes.push(change('create', undefined, want));
      continue;
    }
    // The same object instance (a file whose blob did not change) cannot differ.
    if (have.object === want.object) {
      unchanged++;
      continue;
    }
    const c = change('update', have, want);
    if (c.fields.length > 0) refused.push(...immutableViolations(have, want));
    if (c.fields.length === 0) unchanged++;
    else changes.push(c);
  }
  // An object missing from the desired side because its file did not parse or validate is not
  // a deletion: nobody asked for it to go. It is said as a warning instead (a sync applies
  // nothing anyway while there are errors).
  const broken = new Set(input.errors.map((e) => e.file));
  const notCompared: Diagnostic[] = [];
  for (const [id, have] of current) {
    if (seen.has(id)) continue;
    if (broken.has(have.source.file)) {
      notCompared.push(diagnostic('warning', 'CAPSTAN_ERR_PLAN_NOT_COMPARED', `${id} was not compared: its file has errors (fix them to see whether it changes)`, { file: have.source.file, ...(have.source.line !== undefined ? { line: have.source.line } : {}) }));
      continue;
    }
    changes.push(change('delete', have, undefined));
  }

  const actionRank = { create: 0, update: 1, delete: 2 } as const;
  changes.sort(
    (a, b) =>
      actionRank[a.action] - actionRank[b.action] ||
      (a.action === 'delete' ? kindRank(b.kind) - kindRank(a.kind) : kindRank(a.kind) - kindRank(b.kind)) ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  );
  const count = (action: Change['action']) => changes.filter((c) => c.action === action).length;
  return {
    source: input.source,
    base: input.base,
    changes,
    errors: [...input.errors, ...refused].map(toProblem),
    warnings: [...input.warnings, ...notCompared].map(toProblem),
    summary: { create: count('create'), update: count('update'), delete: count('delete'), unchanged },
  };
}

function idOf(o: SourcedObject): string {
  return objectId({ kind: o.object.kind, namespace: o.object.metadata.namespace, name: o.object.metadata.name });
}

export function hasChanges(plan: Plan): boolean {
  return plan.changes.length > 0;
}
