// Blue-green, after Argo Rollouts: the new revision comes up beside the active one as a
// preview (`previewReplicaCount ?? replicas` pods) that only the preview service reaches; a
// promotion (manual, `autoPromotionSeconds` after the preview is ready, or at once when
// auto-promotion is on without seconds) switches the active service, and the old revision
// scales down `scaleDownDelaySeconds` (default 30) later. An abort switches back at once.
// `postPromotionAnalysis` runs after the switch while the old revision stays up (past its
// scale-down delay if need be); a failure switches the active service back and aborts.
// A fast-tracked return to a recently healthy revision skips both analyses and the wait.

import { finishDecision, pausedDecision } from './status.js';
import { stableOf } from './canary-strategy.js';
import type { RolloutDecision, RolloutInput, ScaleAction } from './types.js';

export interface BlueGreenParams {
  activeService?: string;
  previewService?: string;
  previewReplicaCount?: number;
  autoPromotionEnabled: boolean;
  autoPromotionSeconds?: number;
  scaleDownDelaySeconds: number;
  prePromotionAnalysis?: AnalysisSpec;
  postPromotionAnalysis?: AnalysisSpec;
}

type AnalysisSpec = { templates: Array<{ templateName: string }>; args?: Array<{ name: string; value: string }> };

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

export function blueGreenParams(raw: Record<string, unknown> | undefined): BlueGreenParams {
  const r = raw ?? {};
  const pre = r.prePromotionAnalysis as BlueGreenParams['prePromotionAnalysis'];
  const post = r.postPromotionAnalysis as BlueGreenParams['postPromotionAnalysis'];
  return {
    ...(typeof r.activeService === 'string' ? { activeService: r.activeService } : {}),
    ...(typeof r.previewService === 'string' ? { previewService: r.previewService } : {}),
    ...(num(r.previewReplicaCount) !== undefined ? { previewReplicaCount: num(r.previewReplicaCount) } : {}),
    autoPromotionEnabled: r.autoPromotionEnabled !== false,
    ...(num(r.autoPromotionSeconds) !== undefined ? { autoPromotionSeconds: num(r.autoPromotionSeconds) } : {}),
    scaleDownDelaySeconds: num(r.scaleDownDelaySeconds) ?? 30,
    ...(pre && Array.isArray(pre.templates) ? { prePromotionAnalysis: pre } : {}),
    ...(post && Array.isArray(post.templates) ? { postPromotionAnalysis: post } : {}),
  };
}

export function blueGreen(input: RolloutInput): RolloutDecision {
  const p = blueGreenParams(input.strategy.type === 'BlueGreen' ? input.strategy.blueGreen : undefined);
  const prev = input.progressive ?? {};
  const n = input.newRevision;
  const active = stableOf(input);
  const scale: ScaleAction[] = [];
  const step = { index: 0, count: 1 };

  // Promoted (or first deploy): the new revision is active; the old ones go after the delay.
  if (!active || active.name === n.name) {
    // Aborted after the promotion, while the old revision still runs: switch back at once.
    const back = prev.aborted && prev.previousActive ? input.oldRevisions.find((r) => r.name === prev.previousActive && r.replicas > 0) : undefined;
    if (back) return blueGreen({ ...input, progressive: { ...prev, stableRevision: back.name, promotedAt: null, previousActive: undefined } });
    if (n.replicas !== input.replicas) scale.push({ revision: n.name, replicas: input.replicas });
    const promotedAt = prev.promotedAt ?? input.now;
    const downAt = promotedAt + p.scaleDownDelaySeconds * 1000;
    const olds = input.oldRevisions.filter((r) => r.replicas > 0);
    const keepBack = prev.previousActive && olds.some((r) => r.name === prev.previousActive) ? prev.previousActive : undefined;

    // Post-promotion analysis: only after a switch this rollout made (not a first deploy, not
    // a fast-tracked rollback), while the previous active revision is still up to go back to.
    const post = p.postPromotionAnalysis;
    let postDone = prev.postPromotionDone === true;
    let promoteConsumed = false;
    let waitPost: { analysis?: RolloutDecision['analysis']; message: string; paused: boolean } | undefined;
    if (post && keepBack && !prev.fastTrack && !postDone) {
      const phase = prev.analysis?.key === 'post-promotion' ? prev.analysis.phase : undefined;
      if (phase === 'Failed' || phase === 'Error') {
        // As an operator's abort: the branch above switches the active service back.
        return blueGreen({ ...input, progressive: { ...prev, aborted: true, promote: undefined } });
      }
      if (phase === 'Successful' || prev.promote !== undefined) {
        // Passed, or an operator's promote accepts an inconclusive (or slow) analysis.
        postDone = true;
        promoteConsumed = prev.promote !== undefined;
      } else if (phase === 'Inconclusive') {
        const why = prev.analysis?.message ? ` (${prev.analysis.message})` : '';
        waitPost = { message: `Revision "${n.name}" is active; post-promotion analysis was inconclusive${why}: promote to accept or abort to switch back to "${keepBack}".`, paused: true };
      } else {
        waitPost = {
          analysis: { key: 'post-promotion', templates: post.templates.map((t) => t.templateName), ...(post.args ? { args: post.args } : {}) },
          message: `Revision "${n.name}" is active; running post-promotion analysis while "${keepBack}" stays up to switch back to.`,
          paused: false,
        };
      }
    }

    let requeueAt: number | undefined;
    if (olds.length > 0 && !waitPost) {
      if (input.now >= downAt || !active) for (const r of olds) scale.push({ revision: r.name, replicas: 0 });
      else requeueAt = downAt;
    }
    let d = input.paused ? pausedDecision(input) : finishDecision(input, scale);
    if (waitPost) {
      d = waitPost.paused && scale.length === 0 ? { ...pausedDecision(input), reason: 'AnalysisInconclusive' } : d;
      d = { ...d, message: waitPost.message };
    } else if (requeueAt !== undefined && d.phase === 'Progressing') {
      d = { ...d, message: `Revision "${n.name}" is active; the old revision scales down in ${Math.ceil((downAt - input.now) / 1000)}s.` };
    }
    return {
      ...d,
      step: { index: 1, count: 1 },
      traffic: [{ revision: n.name, weight: 100 }],
      state: {
        stableRevision: n.name,
        promotedAt: olds.length > 0 || prev.promotedAt != null ? promotedAt : null,
        // Remembered only while the old revision is still up to be switched back to.
        ...(keepBack ? { previousActive: keepBack } : {}),
        ...(postDone ? { postPromotionDone: true } : {}),
      },
      roles: { active: n.name, preview: n.name },
      ...(requeueAt !== undefined ? { requeueAt } : {}),
      ...(waitPost?.analysis ? { analysis: waitPost.analysis } : {}),
      ...(promoteConsumed ? { promoteConsumed } : {}),
    };
  }

  const roles = { active: active.name, preview: n.name };
  const traffic = [{ revision: active.name, weight: 100 }, { revision: n.name, weight: 0 }];
  const others = input.oldRevisions.filter((r) => r.name !== active.name && r.replicas > 0).map((r) => ({ revision: r.name, replicas: 0 }));
  scale.push(...others);
  if (active.replicas < input.replicas) scale.push({ revision: active.name, replicas: input.replicas });

  if (prev.aborted) {
    if (n.replicas > 0) scale.push({ revision: n.name, replicas: 0 });
    const d = finishDecision(input, scale, { traffic, step });
    const message = `Rollout aborted: the active service is back on "${active.name}"; revision "${n.name}" is pinned until Git changes or the rollout is retried.`;
    return {
      ...d,
      phase: 'Degraded',
      reason: 'RolloutAborted',
      message,
      conditions: [...d.conditions.filter((c) => c.type !== 'Progressing'), { type: 'Progressing', status: 'False', reason: 'RolloutAborted', message }],
      lastProgressAt: input.lastProgressAt,
      state: { stableRevision: active.name, aborted: true },
      roles,
    };
  }

  // Promotion needs the full replica count ready before the switch; a fast-tracked return to a
  // recently healthy revision promotes as a full promote would, without analysis.
  const promoting = prev.promote !== undefined || prev.fastTrack === true;
  const want = promoting ? input.replicas : Math.min(p.previewReplicaCount ?? input.replicas, input.replicas);
  if (n.replicas !== want) scale.push({ revision: n.name, replicas: want });
  const ready = n.replicas === want && n.pods.available >= want;
  const previewReadyAt = ready ? (prev.previewReadyAt ?? input.now) : null;
  const state = { stableRevision: active.name, previewReadyAt, ...(prev.promote !== undefined ? { promote: prev.promote } : {}) };
  const base = { step, traffic, roles };

  if (ready && input.paused !== true) {
    let go = promoting;
    let wait: { reason: string; message: string; requeueAt?: number } | undefined;
    const pre = p.prePromotionAnalysis;
    const analysisPhase = prev.analysis && (prev.analysis.key === undefined || prev.analysis.key === 'pre-promotion') ? prev.analysis.phase : undefined;
    if (!go && pre && analysisPhase !== 'Successful') {
      if (analysisPhase === 'Failed' || analysisPhase === 'Error') {
        return blueGreen({ ...input, progressive: { ...prev, aborted: true } });
      }
      return {
        ...finishDecision(input, scale, base),
        message: `Preview "${n.name}" is ready; running pre-promotion analysis.`,
        state,
        roles,
        analysis: { key: 'pre-promotion', templates: pre.templates.map((t) => t.templateName), ...(pre.args ? { args: pre.args } : {}) },
      };
    }
    if (!go) {
      if (!p.autoPromotionEnabled) wait = { reason: 'BlueGreenPause', message: `Preview "${n.name}" is ready: waiting for promote.` };
      else if (p.autoPromotionSeconds !== undefined) {
        const at = (previewReadyAt ?? input.now) + p.autoPromotionSeconds * 1000;
        if (input.now < at) wait = { reason: 'BlueGreenPause', message: `Preview "${n.name}" is ready: promoting automatically in ${Math.ceil((at - input.now) / 1000)}s.`, requeueAt: at };
        else go = true;
      } else go = true;
    }
    if (wait) {
      const d = scale.length > 0 ? finishDecision(input, scale, base) : pausedDecision(input, base);
      return { ...d, reason: wait.reason, message: wait.message, state, roles, ...(wait.requeueAt !== undefined ? { requeueAt: wait.requeueAt } : {}) };
    }
    if (go && n.replicas === input.replicas && n.pods.available >= input.replicas) {
      // Switch: the next pass sees the new revision as active and starts the scale-down delay.
      const switched = blueGreen({
        ...input,
        progressive: { stableRevision: n.name, promotedAt: input.now, previousActive: active.name, ...(prev.fastTrack ? { fastTrack: true } : {}) },
      });
      return { ...switched, ...(prev.promote !== undefined ? { promoteConsumed: true } : {}) };
    }
    if (go && !promoting && n.replicas < input.replicas) {
      // Auto-promotion: bring the preview to full scale first, as a promote would.
      const up = [...scale.filter((s) => s.revision !== n.name), { revision: n.name, replicas: input.replicas }];
      return { ...finishDecision(input, up, base), state: { ...state, promote: 'full' }, roles };
    }
  }
  const d = input.paused ? pausedDecision(input, base) : finishDecision(input, scale, base);
  const message = d.phase === 'Progressing' ? `Waiting for preview "${n.name}": ${n.pods.available} of ${want} replicas available.` : d.message;
  return { ...d, message, state, roles };
}
