// `capstan status NAME`: one view of a rollout built from what the API serves — the workload
// and its status, its revisions and their pods, the Services selecting it with the router's
// set and measured traffic per revision, and the analysis runs of the current revision.
// Pure: the command fetches, this shapes (JSON) and draws (text).

import type { Pod, Revision } from '../api/cluster.js';
import { contractDeployment, contractService, type DeploymentView } from './views.js';

/** The Service status as the control plane's router writes it (src/compose/services.ts). */
interface RouterTraffic {
  windowSeconds?: number;
  revisions?: Record<string, { requests: number; errors: number; successRate: number | null; p50?: number | null; p99: number | null; share: number }>;
}

export interface RawWorkload extends DeploymentView {
  /** The commit of the spec the store holds (servers before 0.1 do not send it). */
  desiredCommit?: string | null;
  revisionName?: string;
  stableRevision?: string;
  reason?: string;
  /** The experiment step running now (the status record's `experiment`). */
  experiment?: ExperimentView;
  object?: {
    spec?: {
      strategy?: { type?: string; canary?: unknown; blueGreen?: { activeService?: string; previewService?: string } };
      template?: { metadata?: { labels?: Record<string, string> } };
    };
  };
}

export interface ExperimentView {
  key: string;
  phase: string;
  startedAt?: string;
  duration?: number;
  templates: { name: string; specRef: string; replicas: number; revision?: string }[];
  analyses: string[];
  message?: string;
}

export interface RawService {
  namespace: string;
  name: string;
  traffic?: RouterTraffic;
  object?: { spec?: { selector?: Record<string, string> } };
  [k: string]: unknown;
}

/** The analysis runner's summary record (src/analysis/summary.ts). */
export interface RawAnalysisRuns {
  revision: string;
  runs: {
    key: string;
    slot: string;
    templates: string[];
    phase: string;
    message?: string;
    startedAt: string;
    metrics: { name: string; phase: string; measurements: number; successful: number; failed: number; inconclusive: number; errors: number; lastValue?: unknown; lastPhase?: string; message?: string }[];
  }[];
}

export interface RevisionTrafficView {
  service: string;
  /** Percent the router is told to send (the traffic policy). */
  setWeight: number;
  /** Percent of the Service's requests this revision served in the window; null without requests. */
  actualWeight: number | null;
  requests: number;
  errors: number;
  successRate: number | null;
  p99: number | null;
}

export interface RevisionView {
  revision: number;
  hash: string;
  role: string;
  current: boolean;
  /** Pods this revision should have now. */
  replicas: number;
  readyReplicas: number;
  commit: string | null;
  createdAt: string;
  /** `message`: why a pod waits for a node (the scheduler's reason), only while it does. */
  pods: { name: string; node: string | null; phase: string; ready: boolean; restarts: number; message?: string }[];
  traffic: RevisionTrafficView[];
}

export interface StatusView extends DeploymentView {
  strategy: 'RollingUpdate' | 'Recreate' | 'Canary' | 'BlueGreen';
  /** The step in progress, 1-based like the messages ("step 2/5"); stepCount once done. */
  stepNumber?: number;
  /** The weight the strategy set (canary) and the share the router measured for the current revision. */
  setWeight?: number;
  actualWeight?: number | null;
  stableRevision: string | null;
  currentRevision: string | null;
  reason: string | null;
  revisions: RevisionView[];
  services: { name: string; address: string | string[]; weights: Record<string, number>; windowSeconds: number | null }[];
  analysis: RawAnalysisRuns['runs'];
  experiment?: ExperimentView;
}

function strategyOf(raw: RawWorkload): StatusView['strategy'] {
  const s = raw.object?.spec?.strategy;
  if (s?.canary) return 'Canary';
  if (s?.blueGreen) return 'BlueGreen';
  return s?.type === 'Recreate' ? 'Recreate' : 'RollingUpdate';
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

export interface StatusInputs {
  revisions: Revision[];
  pods: Pod[];
  services: RawService[];
  analysis?: RawAnalysisRuns;
}

export function buildStatusView(raw: RawWorkload, input: StatusInputs): StatusView {
  const base = contractDeployment(raw);
  const strategy = strategyOf(raw);
  const current = raw.revisionName?.startsWith(`${raw.name}-`) ? raw.revisionName.slice(raw.name.length + 1) : null;
  const stable = raw.stableRevision ?? null;
  const labels = raw.object?.spec?.template?.metadata?.labels ?? {};
  const services = input.services.filter((s) => selects(s.object?.spec?.selector, labels));

  const revisions: RevisionView[] = [];
  const mine = input.revisions.filter((r) => r.metadata.owner.name === raw.name && r.metadata.owner.kind === (raw.kind ?? r.metadata.owner.kind));
  for (const r of mine.sort((a, b) => b.metadata.revision - a.metadata.revision)) {
    const hash = r.metadata.hash;
    const pods = input.pods.filter((p) => p.metadata.owner?.revision === hash && p.metadata.owner.name === raw.name && !p.status?.terminatedAt);
    const traffic: RevisionTrafficView[] = [];
    for (const s of services) {
      const set = contractService(s, input.pods).weights[hash] ?? 0;
      const measured = s.traffic?.revisions?.[hash];
      if (set === 0 && !measured) continue;
      traffic.push({
        service: s.name,
        setWeight: set,
        actualWeight: measured ? measured.share : null,
        requests: measured?.requests ?? 0,
        errors: measured?.errors ?? 0,
        successRate: measured?.successRate ?? null,
        p99: measured?.p99 ?? null,
      });
    }
    if (r.replicas === 0 && pods.length === 0 && traffic.length === 0 && hash !== current) continue;
    const role = r.role ?? (hash === current ? (hash === stable || !stable ? 'current' : strategy === 'BlueGreen' ? 'preview' : 'canary') : hash === stable ? 'stable' : 'old');
    revisions.push({
      revision: r.metadata.revision,
      hash,
      role,
      current: hash === current,
      replicas: r.replicas,
      readyReplicas: pods.filter((p) => p.status?.ready).length,
      commit: r.metadata.commit ?? null,
      createdAt: r.metadata.createdAt,
      pods: pods
        .map((p) => ({
          name: p.metadata.name,
          node: p.spec.nodeName ?? null,
          phase: p.metadata.deletionRequestedAt ? 'Terminating' : (p.status?.phase ?? 'Pending'),
          ready: p.status?.ready === true,
          restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
          ...(!p.spec.nodeName && p.status?.reason === 'Unschedulable' && p.status.message ? { message: p.status.message } : {}),
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      traffic,
    });
  }

  const view: StatusView = {
    ...base,
    strategy,
    stableRevision: stable,
    currentRevision: current,
    reason: raw.reason ?? null,
    revisions,
    services: services.map((s) => {
      const c = contractService(s, input.pods);
      return { name: s.name, address: c.address, weights: c.weights, windowSeconds: s.traffic?.windowSeconds ?? null };
    }),
    analysis: input.analysis && input.analysis.revision === current ? input.analysis.runs : [],
    ...(raw.experiment ? { experiment: raw.experiment } : {}),
  };
  if (base.stepCount !== undefined) {
    view.stepNumber = Math.min((base.step ?? 0) + 1, base.stepCount);
    view.setWeight = base.weight ?? 0;
    // The first Service that carries the current revision: its measured share is the actual weight.
    const cur = revisions.find((r) => r.current)?.traffic[0];
    view.actualWeight = cur ? cur.actualWeight : null;
  }
  return view;
}

function bar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const pct = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined ? '-' : `${n.toFixed(digits)}%`);
const ms = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : n === Infinity ? '>60s' : `${n < 10 ? n.toFixed(1) : Math.round(n)}ms`);

function valueText(v: unknown): string {
  if (v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4).replace(/0+$/, '');
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** The text `capstan status` prints: summary, progress bars, the revision tree, analysis. */
export function statusText(v: StatusView): string {
  const lines = [
    `${v.kind ?? 'Deployment'} ${v.namespace}/${v.name}`,
    `  phase:     ${v.phase}${v.message ? ` — ${v.message}` : ''}`,
    `  strategy:  ${v.strategy}`,
    `  revision:  ${v.revision}${v.syncedCommit ? ` (commit ${v.syncedCommit.slice(0, 12)})` : ''}`,
    // A canary or a blue-green preview runs beside the full stable set, so more pods than
    // desired can be ready: say so rather than print "6/4".
    `  ready:     ${bar(Math.min(v.readyReplicas, v.replicas), v.replicas)} ${v.readyReplicas > v.replicas ? `${v.readyReplicas} (${v.replicas} desired, ${v.readyReplicas - v.replicas} extra during the rollout)` : `${v.readyReplicas}/${v.replicas}`}`,
    `  updated:   ${bar(v.updatedReplicas, v.replicas)} ${v.updatedReplicas}/${v.replicas}`,
  ];
  if (v.stepCount) {
    const done = (v.step ?? 0) >= v.stepCount;
    lines.push(`  step:      ${bar(done ? v.stepCount : (v.step ?? 0), v.stepCount)} ${v.stepNumber}/${v.stepCount}${done ? ' (done)' : ''}`);
    lines.push(`  weight:    ${bar(v.setWeight ?? 0, 100)} set ${v.setWeight ?? 0}%, actual ${pct(v.actualWeight)}`);
  }
  if (v.experiment) {
    const e = v.experiment;
    const groups = e.templates.map((t) => `${t.name} (${t.specRef}, ${t.replicas} pod${t.replicas === 1 ? '' : 's'})`).join(', ');
    lines.push(`  experiment: ${e.key} ${e.phase}  ${groups}${e.duration !== undefined ? ` for ${e.duration}s` : ''}${e.analyses.length > 0 ? `; analyses ${e.analyses.join(', ')}` : ''}${e.message ? ` — ${e.message}` : ''}`);
  }
  if (v.revisions.length > 0) {
    lines.push('  revisions:');
    v.revisions.forEach((r, i) => {
      const lastRev = i === v.revisions.length - 1;
      const traffic = r.traffic
        .map((t) => `${t.service} ${t.setWeight}% (actual ${pct(t.actualWeight)}, success ${t.successRate === null ? '-' : pct(t.successRate * 100, 2)}, p99 ${ms(t.p99)})`)
        .join('; ');
      lines.push(`  ${lastRev ? '└──' : '├──'} rev ${r.revision}  ${r.hash}  ${r.role}  ${r.readyReplicas}/${r.replicas} ready${r.commit ? `  commit ${r.commit.slice(0, 7)}` : ''}${traffic ? `  ${traffic}` : ''}`);
      r.pods.forEach((p, j) => {
        lines.push(`  ${lastRev ? '   ' : '│  '} ${j === r.pods.length - 1 ? '└──' : '├──'} ${p.name}  ${p.node ?? '<unbound>'}  ${p.phase}${p.ready ? ' ready' : ''}${p.restarts ? `  ${p.restarts} restarts` : ''}${p.message ? ` — ${p.message}` : ''}`);
      });
    });
  }
  if (v.services.length > 0) {
    lines.push('  services:');
    for (const s of v.services) {
      const weights = Object.entries(s.weights).map(([rev, w]) => `${rev}=${w}%`).join(', ');
      lines.push(`    ${s.name}  ${Array.isArray(s.address) ? s.address.join(',') : s.address}  ${weights || 'no ready endpoints'}${s.windowSeconds ? `  (measured over ${s.windowSeconds}s)` : ''}`);
    }
  }
  if (v.analysis.length > 0) {
    lines.push('  analysis:');
    for (const run of v.analysis) {
      lines.push(`    ${run.key}  ${run.phase}  (${run.templates.join(', ')})${run.message ? ` — ${run.message}` : ''}`);
      for (const m of run.metrics) {
        lines.push(`      ${m.name}  ${m.phase}  ${m.measurements} measured, last ${valueText(m.lastValue)}${m.lastPhase ? ` (${m.lastPhase})` : ''}, ${m.failed} failed, ${m.inconclusive} inconclusive${m.errors ? `, ${m.errors} errors` : ''}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
