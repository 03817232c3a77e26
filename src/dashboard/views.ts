// What the dashboard shows, built from what the API serves: the sources with their sync state
// (each error located and linked to the forge), the applications with health and sync state,
// and one workload's rollout (`capstan status`'s view) and history. Pure: the route reads,
// these shape. The rollout view is the CLI's buildStatusView; the source line is its
// contractSource / problemLine.
import type { HistoryEntry, Pod, Revision } from '../api/cluster.js';
import { buildStatusView, type RawAnalysisRuns, type RawService, type RawWorkload, type StatusView } from '../cli/status-view.js';
import { contractSource, problemLine, sourceStatusLine, type SourceView } from '../cli/sync-view.js';
import { contractDeployment, type DeploymentView } from '../cli/views.js';
import type { SyncState } from '../sync/index.js';
import { forgeCommitLink, forgeFileLink } from './forge.js';

export interface DashboardProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
  code: string;
  /** `file:line:col: message [code]`, as the CLI prints it. */
  text: string;
  /** `file:line:col` (or the file alone). */
  where: string;
  /** The file at the refused commit on the forge, when the source has one. */
  link: string | null;
}

export interface DashboardSource extends Omit<SourceView, 'errors'> {
  errors: DashboardProblem[];
  /** The line `capstan status` starts with. */
  statusLine: string;
  syncedLink: string | null;
  seenLink: string | null;
}

export type AppSync = 'Synced' | 'Applying';

export interface DashboardApp extends DeploymentView {
  kind: string;
  /** Synced: the controller's status is for the spec the store holds; Applying: not yet. */
  sync: AppSync;
  desiredCommit: string | null;
  strategy: string;
  file: string | null;
  line: number | null;
}

export interface Overview {
  sources: DashboardSource[];
  apps: DashboardApp[];
}

export function dashboardSource(s: SyncState): DashboardSource {
  const view = contractSource(s);
  // Errors are in the commit that was looked at and refused.
  const at = view.seenCommit ?? view.syncedCommit;
  const errors = view.errors.map((p): DashboardProblem => {
    const where = p.line !== undefined ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
    return {
      file: p.file,
      ...(p.line !== undefined ? { line: p.line } : {}),
      ...(p.column !== undefined ? { column: p.column } : {}),
      message: p.message,
      code: p.code,
      text: problemLine(p),
      where,
      link: forgeFileLink(view.location, at, p.file, p.line) ?? null,
    };
  });
  return {
    ...view,
    errors,
    statusLine: sourceStatusLine(view),
    syncedLink: forgeCommitLink(view.location, view.syncedCommit) ?? null,
    seenLink: forgeCommitLink(view.location, view.seenCommit) ?? null,
  };
}

type RawApp = RawWorkload & { desiredCommit?: string | null; source?: { file?: string; line?: number } };

function strategyName(raw: RawApp): string {
  const s = raw.object?.spec?.strategy;
  if (s?.canary) return 'Canary';
  if (s?.blueGreen) return 'BlueGreen';
  return s?.type ?? 'RollingUpdate';
}

export function dashboardApp(raw: RawApp): DashboardApp {
  const base = contractDeployment(raw);
  const desiredCommit = raw.desiredCommit ?? null;
  return {
    ...base,
    kind: raw.kind ?? 'Deployment',
    sync: !desiredCommit || raw.syncedCommit === desiredCommit ? 'Synced' : 'Applying',
    desiredCommit,
    strategy: strategyName(raw),
    file: raw.source?.file || null,
    line: raw.source?.line ?? null,
  };
}

export function buildOverview(input: { sources: SyncState[]; workloads: RawApp[] }): Overview {
  const order = ['Deployment', 'Rollout', 'StatefulSet', 'DaemonSet'];
  const apps = input.workloads
    .map(dashboardApp)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || order.indexOf(a.kind) - order.indexOf(b.kind));
  return { sources: input.sources.map(dashboardSource), apps };
}

export interface HistoryRow extends HistoryEntry {
  /** False when the revision's template is no longer kept (it cannot be rolled back to). */
  kept: boolean;
}

/** One step of a canary as the page lists it. */
export interface StepRow {
  text: string;
  /** done: behind the rollout; current: the step in progress; pending: ahead. */
  state: 'done' | 'current' | 'pending';
}

function duration(v: unknown): string {
  return typeof v === 'number' ? `${v}s` : String(v);
}

/** A canary step in words: `setWeight 20%`, `pause 30s`, `pause until promoted`, `analysis success-rate`. */
export function stepText(step: Record<string, unknown>): string {
  if (typeof step.setWeight === 'number') return `set weight ${step.setWeight}%`;
  if ('pause' in step) {
    const p = (step.pause ?? {}) as { duration?: unknown };
    return p.duration !== undefined ? `pause ${duration(p.duration)}` : 'pause until promoted';
  }
  if (step.analysis) {
    const names = ((step.analysis as { templates?: { templateName?: string }[] }).templates ?? []).map((t) => t.templateName).filter(Boolean);
    return `analysis ${names.join(', ') || '(inline)'}`;
  }
  if (step.experiment) return 'experiment';
  if (step.setCanaryScale) return 'set canary scale';
  if (step.setHeaderRoute) return 'set header route';
  if (step.setMirrorRoute) return 'set mirror route';
  return Object.keys(step)[0] ?? 'step';
}

export function stepRows(raw: { object?: unknown }, step: number | undefined): StepRow[] {
  const steps = ((raw.object as { spec?: { strategy?: { canary?: { steps?: Record<string, unknown>[] } } } } | undefined)?.spec?.strategy?.canary?.steps) ?? [];
  const at = step ?? 0;
  return steps.map((s, i) => ({ text: stepText(s ?? {}), state: i < at ? 'done' : i === at ? 'current' : 'pending' }));
}

export interface WorkloadPage {
  status: StatusView;
  steps: StepRow[];
  app: DashboardApp;
  history: HistoryRow[];
  source: DashboardSource | null;
}

export interface WorkloadInputs {
  raw: RawApp;
  revisions: Revision[];
  pods: Pod[];
  services: RawService[];
  analysis?: RawAnalysisRuns;
  history: HistoryEntry[];
  sources: SyncState[];
}

export function buildWorkloadPage(input: WorkloadInputs): WorkloadPage {
  const { raw } = input;
  const status = buildStatusView(raw, { revisions: input.revisions, pods: input.pods, services: input.services, ...(input.analysis ? { analysis: input.analysis } : {}) });
  const kept = new Set(input.revisions.filter((r) => r.metadata.owner.name === raw.name).map((r) => r.metadata.revision));
  const history = input.history
    .filter((h) => h.name === raw.name && (!h.kind || !raw.kind || h.kind === raw.kind))
    .sort((a, b) => b.revision - a.revision)
    .map((h) => ({ ...h, kept: kept.has(h.revision) }));
  return { status, steps: stepRows(raw, status.step), app: dashboardApp(raw), history, source: input.sources[0] ? dashboardSource(input.sources[0]) : null };
}
