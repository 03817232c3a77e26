// Which Notifications an occurrence goes to: the trigger listed, the namespace (a sync concerns
// every namespace), applied before it happened, the workload's labels match the selector, and
// the `when` condition holds.
import { parseCondition, type Condition, type Value } from '../analysis/expression.js';
import type { LabelSelector, Notification } from '../api/index.js';
import type { Occurrence } from './triggers.js';

export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = labels[r.key];
    const inValues = has && (r.values ?? []).includes(v!);
    if (r.operator === 'In' && !inValues) return false;
    if (r.operator === 'NotIn' && inValues) return false;
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The fields a `when` condition reads as `result.<field>`, and templates as `{{ field }}`. */
export function occurrenceFields(o: Occurrence, labels: Readonly<Record<string, string>> = {}): Record<string, Value> {
  return {
    trigger: o.trigger,
    kind: o.kind,
    namespace: o.namespace ?? null,
    workload: o.kind === 'Source' ? null : o.name,
    source: o.kind === 'Source' ? o.name : null,
    name: o.name,
    message: o.message,
    reason: o.reason ?? null,
    revision: o.revision ?? null,
    commit: o.commit ?? null,
    shortCommit: o.commit ? o.commit.slice(0, 12) : null,
    at: o.at,
    labels: { ...labels },
  };
}

const conditions = new Map<string, Condition | null>();

function compiled(source: string): Condition | null {
  if (!conditions.has(source)) {
    let c: Condition | null = null;
    try {
      c = parseCondition(source);
    } catch {
      c = null; // validation refuses it in Git; a stored bad one matches nothing
    }
    if (conditions.size > 500) conditions.clear();
    conditions.set(source, c);
  }
  return conditions.get(source)!;
}

export interface AppliedNotification {
  notification: Notification;
  /** When the sync loop stored it (DesiredRecord.appliedAt). */
  appliedAt: string;
}

/** Whether `n` asks to be told about `o` (labels: the workload's, `{}` for a sync). */
export function notificationWants(n: AppliedNotification, o: Occurrence, labels: Readonly<Record<string, string>>): boolean {
  const spec = n.notification.spec;
  if (!spec.triggers.includes(o.trigger)) return false;
  if (o.namespace !== undefined && n.notification.metadata.namespace !== o.namespace) return false;
  if (Date.parse(o.at) < Date.parse(n.appliedAt)) return false;
  if (o.kind !== 'Source' && !selectorMatches(spec.selector, labels)) return false;
  if (spec.when !== undefined) {
    const c = compiled(spec.when);
    if (!c) return false;
    try {
      if (!c.evaluate(occurrenceFields(o, labels))) return false;
    } catch {
      return false;
    }
  }
  return true;
}
