// Pod label selectors and the namespaces an affinity term or spread constraint looks at,
// compiled once per term so matching an existing pod is a few property reads.

import { CapstanError } from '../common/index.js';
import type { LabelSelector } from './types.js';

const SEL_IN = 0;
const SEL_NOT_IN = 1;
const SEL_EXISTS = 2;
const SEL_DOES_NOT_EXIST = 3;
const SEL_OPS: Record<string, number> = { In: SEL_IN, NotIn: SEL_NOT_IN, Exists: SEL_EXISTS, DoesNotExist: SEL_DOES_NOT_EXIST };

export interface CompiledSelector {
  /** A missing selector matches no pod. */
  none: boolean;
  labelKeys: string[];
  labelValues: string[];
  exprKeys: string[];
  exprOps: number[];
  exprValues: Array<ReadonlySet<string>>;
  /** Canonical text, so equal selectors share one index. */
  id: string;
}

/** Which pods a term counts: their namespace and labels. */
export interface PodCondition {
  allNamespaces: boolean;
  namespaces: ReadonlySet<string>;
  selector: CompiledSelector;
  id: string;
}

export type Labels = Readonly<Record<string, string>>;

function invalid(podId: string, field: string, message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_API_SCHEMA', `pod ${podId}: ${field}: ${message}`, { field, context: { pod: podId } });
}

export function compileSelector(podId: string, field: string, sel: LabelSelector | null | undefined, extra?: Labels): CompiledSelector {
  if (sel === null || sel === undefined) {
    return { none: true, labelKeys: [], labelValues: [], exprKeys: [], exprOps: [], exprValues: [], id: 'none' };
  }
  const labels = { ...(sel.matchLabels ?? {}), ...(extra ?? {}) };
  const labelKeys = Object.keys(labels).sort();
  const labelValues = labelKeys.map((k) => labels[k]);
  const exprs = (sel.matchExpressions ?? []).map((e, i) => {
    const op = SEL_OPS[e.operator];
    const f = `${field}.matchExpressions[${i}]`;
    if (op === undefined) throw invalid(podId, `${f}.operator`, `unknown operator ${JSON.stringify(e.operator)}; use In, NotIn, Exists or DoesNotExist`);
    const values = e.values ?? [];
    if ((op === SEL_IN || op === SEL_NOT_IN) && values.length === 0) throw invalid(podId, `${f}.values`, `${e.operator} needs at least one value`);
    if ((op === SEL_EXISTS || op === SEL_DOES_NOT_EXIST) && values.length > 0) throw invalid(podId, `${f}.values`, `${e.operator} takes no values`);
    return { key: e.key, op, values: [...values].sort() };
  });
  exprs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.op - b.op));
  const id = JSON.stringify([labelKeys, labelValues, exprs.map((e) => [e.key, e.op, e.values])]);
  return {
    none: false,
    labelKeys,
    labelValues,
    exprKeys: exprs.map((e) => e.key),
    exprOps: exprs.map((e) => e.op),
    exprValues: exprs.map((e) => new Set(e.values)),
    id,
  };
}

export function matchSelector(sel: CompiledSelector, labels: Labels): boolean {
  if (sel.none) return false;
  const keys = sel.labelKeys;
  for (let i = 0; i < keys.length; i++) if (labels[keys[i]] !== sel.labelValues[i]) return false;
  const ek = sel.exprKeys;
  for (let i = 0; i < ek.length; i++) {
    const v = Object.prototype.hasOwnProperty.call(labels, ek[i]) ? labels[ek[i]] : undefined;
    switch (sel.exprOps[i]) {
      case SEL_IN:
        if (v === undefined || !sel.exprValues[i].has(v)) return false;
        break;
      case SEL_NOT_IN:
        if (v !== undefined && sel.exprValues[i].has(v)) return false;
        break;
      case SEL_EXISTS:
        if (v === undefined) return false;
        break;
      default:
        if (v !== undefined) return false;
    }
  }
  return true;
}

/**
 * The namespaces of a term: those listed plus those whose labels the namespaceSelector matches;
 * an empty namespaceSelector (`{}`) means every namespace; neither given means the pod's own.
 */
export function compileCondition(
  podId: string,
  field: string,
  ownNamespace: string,
  selector: CompiledSelector,
  namespaces: readonly string[] | undefined,
  namespaceSelector: LabelSelector | null | undefined,
  namespaceLabels: ReadonlyMap<string, Labels>,
): PodCondition {
  const listed = namespaces ?? [];
  let all = false;
  const set = new Set<string>(listed);
  if (namespaceSelector !== undefined && namespaceSelector !== null) {
    const ns = compileSelector(podId, `${field}.namespaceSelector`, namespaceSelector);
    if (ns.labelKeys.length === 0 && ns.exprKeys.length === 0) all = true;
    else for (const [name, labels] of namespaceLabels) if (matchSelector(ns, labels)) set.add(name);
  } else if (listed.length === 0) {
    set.add(ownNamespace);
  }
  const id = `${all ? '*' : [...set].sort().join(',')}|${selector.id}`;
  return { allNamespaces: all, namespaces: set, selector, id };
}

export function matchCondition(c: PodCondition, namespace: string, labels: Labels): boolean {
  return (c.allNamespaces || c.namespaces.has(namespace)) && matchSelector(c.selector, labels);
}

/** The first `key=value` a matching pod must carry, for bucketing indexes by label; null when none. */
export function bucketLabel(c: PodCondition): string | null {
  const s = c.selector;
  return s.none || s.labelKeys.length === 0 ? null : `${s.labelKeys[0]}\u0000${s.labelValues[0]}`;
}
