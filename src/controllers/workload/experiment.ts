// Argo's experiment step on the workload controller: while the canary waits at the step, each
// listed template runs as its own pod group (a revision named `<rollout>-<template>`, with the
// stable or canary template, experiment labels and its own hash, so no Service's weights send it
// traffic), its analyses run through the analysis runner, and the step ends after `duration`
// (or once the analyses end). Then, or on abort, the groups are removed.
import type { Revision } from '../../api/cluster.js';
import type { AnalysisPhase, RolloutDecision } from '../../rollout/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import { REVISION_HASH_LABEL, iso, templateHash, type WorkloadRef } from './keys.js';
import type { Stored } from './observed.js';
import type { RolloutOverride } from './progressive.js';

export const EXPERIMENT_LABEL = 'capstan.dev/experiment';
export const EXPERIMENT_TEMPLATE_LABEL = 'capstan.dev/experiment-template';

/** The experiment in the status record, as `capstan status` shows it. */
export interface ExperimentStatus {
  key: string;
  startedAt: string;
  phase: AnalysisPhase;
  /** Seconds, when the experiment has a duration. */
  duration?: number;
  templates: Array<{ name: string; specRef: 'stable' | 'canary'; replicas: number; revision: string }>;
  analyses: string[];
  message?: string;
}

type Wanted = NonNullable<RolloutDecision['experiment']>;

/** The pod groups the experiment wants, from the stable and canary revisions' templates. */
export function experimentRevisions(ref: WorkloadRef, exp: Wanted, revisions: readonly Revision[], now: number): Revision[] {
  const out: Revision[] = [];
  for (const t of exp.spec.templates) {
    const src = revisions.find((r) => r.metadata.hash === exp.revisions[t.specRef]);
    if (!src) continue;
    const { [REVISION_HASH_LABEL]: _h, ...own } = src.template.metadata.labels;
    const labels: Record<string, string> = { ...own, ...(t.labels ?? {}), [EXPERIMENT_LABEL]: `${ref.name}-${exp.key}`, [EXPERIMENT_TEMPLATE_LABEL]: t.name };
    const hash = templateHash({ labels, spec: src.template.spec });
    const workload = `${ref.name}-${t.name}`;
    const annotations = { ...(src.template.metadata.annotations ?? {}), ...(t.annotations ?? {}) };
    out.push({
      metadata: {
        name: `${workload}-${hash}`,
        namespace: ref.namespace,
        owner: { kind: ref.kind, name: workload },
        hash,
        revision: 1,
        createdAt: iso(now),
        experimentOf: ref.name,
        ...(src.metadata.commit !== undefined ? { commit: src.metadata.commit } : {}),
      },
      template: { metadata: { labels: { ...labels, [REVISION_HASH_LABEL]: hash }, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) }, spec: src.template.spec },
      replicas: t.replicas,
    });
  }
  return out;
}

const keyOf = (r: Revision): string => `/capstan/revisions/${r.metadata.namespace}/${r.metadata.owner.name}/${r.metadata.hash}`;

/** Writes that make the experiment groups what `want` says: new ones created, others removed (their pods stop). */
export function planExperimentRevisions(existing: readonly Stored<Revision>[], want: readonly Revision[]): { compare: Compare[]; ops: TxnOp[] } {
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  const keep = new Set<string>();
  for (const r of want) {
    const key = keyOf(r);
    keep.add(key);
    const have = existing.find((e) => e.key === key);
    if (have && have.value.replicas === r.replicas) continue;
    compare.push(have ? { key, target: 'modRevision', op: '==', value: have.modRevision } : { key, target: 'createRevision', op: '==', value: 0 });
    ops.push({ type: 'put', key, value: JSON.stringify(have ? { ...have.value, replicas: r.replicas } : r) });
  }
  for (const e of existing) {
    if (keep.has(e.key)) continue;
    compare.push({ key: e.key, target: 'modRevision', op: '==', value: e.modRevision });
    ops.push({ type: 'delete', key: e.key });
  }
  return { compare, ops };
}

/**
 * Where the experiment stands: a failed or inconclusive analysis decides it; else it ends
 * after its duration, or (without one) when its analyses succeed. Pure.
 */
export function experimentPhase(
  exp: Wanted,
  startedAt: number,
  now: number,
  result: RolloutOverride['analysis'] | undefined,
): { phase: AnalysisPhase; message?: string; endsAt?: number } {
  const r = result && result.key === exp.key ? result : undefined;
  if (r && r.phase !== 'Running' && r.phase !== 'Successful') return { phase: r.phase, ...(r.message ? { message: r.message } : {}) };
  if (exp.spec.duration !== undefined) {
    const endsAt = startedAt + exp.spec.duration * 1000;
    return now >= endsAt ? { phase: 'Successful' } : { phase: 'Running', endsAt };
  }
  if (exp.spec.analyses.length > 0 && r?.phase === 'Successful') return { phase: 'Successful' };
  return { phase: 'Running' };
}
