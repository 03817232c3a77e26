import { performance } from 'node:perf_hooks';
import { CapstanError, diagnostic, isCapstanError, type Diagnostic } from '../../common/index.js';
import { createEngine, describeTemplateError, type ChartEngine, type OutputBudget } from './engine.js';
import { readText } from './load.js';
import { normalizeRepoPath } from './paths.js';
import { checkValues, compileSchema } from './schema.js';
import { parseSetValues } from './set.js';
import { DEFAULT_CHART_LIMITS, type Chart, type ChartLimits, type ChartRenderResult, type RenderChartOptions, type ValuesSource } from './types.js';
import { inlineSource, mergeValues, parseValuesYaml, scopeSource } from './values.js';

/** The detailed result lint needs: which templates rendered to nothing. */
export interface ChartRenderDetail extends ChartRenderResult {
  empty: string[];
  duplicateDefines: { name: string; file?: string; line?: number }[];
}

interface RenderRun {
  limits: ChartLimits;
  budget: OutputBudget;
  deadline: number;
  now: () => number;
  release: { name: string; namespace: string };
  /** Appended to template errors so they name the release that used the chart. */
  via: string;
  diagnostics: Diagnostic[];
  /** file:line:col:message of each template error, so one broken partial is reported once. */
  seen: Set<string>;
  files: { path: string; content: string }[];
  empty: string[];
  duplicateDefines: ChartRenderDetail['duplicateDefines'];
  stopped: boolean;
}

/**
 * Render a chart for a release. Values are merged chart values.yaml < values files < inline
 * values < --set, checked against values.schema.json, and exposed to templates as `values`,
 * with `release` and `chart`. Problems in the input come back as diagnostics (nothing is
 * thrown for them); `files` holds every template that rendered to something.
 */
export async function renderChart(chart: Chart, options: RenderChartOptions): Promise<ChartRenderResult> {
  const detail = await renderChartDetailed(chart, options);
  return { files: detail.files, notes: detail.notes, diagnostics: detail.diagnostics };
}

export async function renderChartDetailed(chart: Chart, options: RenderChartOptions): Promise<ChartRenderDetail> {
  const limits: ChartLimits = { ...DEFAULT_CHART_LIMITS, ...options.limits };
  const now = options.now ?? (() => performance.now());
  const src = options.source;
  const run: RenderRun = {
    limits,
    budget: { used: 0, max: limits.outputBytes },
    deadline: now() + limits.timeMs,
    now,
    release: { name: options.release.name, namespace: options.release.namespace },
    via: src ? ` (release ${options.release.namespace}/${options.release.name} in ${src.file}${src.line ? `:${src.line}` : ''})` : '',
    diagnostics: [],
    seen: new Set(),
    files: [],
    empty: [],
    duplicateDefines: [],
    stopped: false,
  };

  const sources: ValuesSource[] = [];
  try {
    const valuesRepo = options.valuesRepo ?? chart.repo;
    for (const t of options.valuesTexts ?? []) sources.push(parseValuesYaml(t.file, t.content));
    for (const f of options.valuesFiles ?? []) {
      const path = normalizeRepoPath(f, 'values file');
      const text = await readText(valuesRepo, path);
      if (text === undefined) {
        throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `values file ${f} does not exist`, { location: src ? { file: src.file, line: src.line } : { file: f } });
      }
      sources.push(parseValuesYaml(f, text));
    }
    if (options.values) sources.push(inlineSource(src?.file ?? '<inline values>', options.values, src?.locate));
    if (options.set?.length) sources.push(inlineSource('--set', parseSetValues(options.set)));
    if (options.setString?.length) sources.push(inlineSource('--set-string', parseSetValues(options.setString, true)));
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    run.diagnostics.push(err.toDiagnostic(src?.file ?? '<values>'));
    return finish(run, undefined);
  }

  const notes = await renderOne(chart, sources, run, true);
  return finish(run, notes);
}

function finish(run: RenderRun, notes: string | undefined): ChartRenderDetail {
  const out: ChartRenderDetail = { files: run.files, diagnostics: run.diagnostics, empty: run.empty, duplicateDefines: run.duplicateDefines };
  if (notes !== undefined) out.notes = notes;
  return out;
}

/** Render one chart (then its sub-charts); returns its rendered NOTES.txt. */
async function renderOne(chart: Chart, overrides: ValuesSource[], run: RenderRun, top: boolean): Promise<string | undefined> {
  const sources = [chart.values, ...overrides];
  let values: Record<string, unknown> = {};
  for (const s of sources) values = mergeValues(values, s.data);

  if (chart.schema) {
    try {
      const validate = compileSchema(chart.schema.file, chart.schema.schema);
      const problems = checkValues(values, chart.schema.file, validate, sources);
      if (problems.length > 0) {
        run.diagnostics.push(...problems);
        return undefined;
      }
    } catch (err) {
      if (!isCapstanError(err)) throw err;
      run.diagnostics.push(err.toDiagnostic(chart.schema.file));
      return undefined;
    }
  }

  const templatesDir = chart.dir === '' ? 'templates' : `${chart.dir}/templates`;
  const engine = createEngine(templatesDir, chart.partials, run.limits, run.budget);
  const scope = {
    values,
    release: { name: run.release.name, namespace: run.release.namespace, service: 'capstan' },
    chart: {
      name: chart.metadata.name,
      version: chart.metadata.version,
      description: chart.metadata.description ?? '',
      appVersion: chart.metadata.appVersion ?? '',
    },
  };

  // Partials first, so every define exists before any template includes it.
  for (const p of chart.partials) parse(engine, p, run);
  const parsed = chart.templates.map((t) => ({ file: t, tpl: parse(engine, t, run) }));
  const notesTpl = top && chart.notes ? parse(engine, chart.notes, run) : undefined;
  run.duplicateDefines.push(...engine.state.duplicates);

  for (const { file, tpl } of parsed) {
    if (!tpl) continue;
    const content = await renderFile(engine, tpl, scope, file.path, run);
    if (content === undefined) continue;
    if (isBlank(content)) run.empty.push(file.path);
    else run.files.push({ path: file.path, content });
  }

  for (const dep of chart.dependencies) {
    if (run.stopped) break;
    // Sub-chart values: its values.yaml < the parent's values.<name> from every parent source.
    const scoped = [chart.values, ...overrides].map((s) => scopeSource(s, dep.name));
    await renderOne(dep.chart, scoped, run, false);
  }

  if (notesTpl && chart.notes) return renderFile(engine, notesTpl, scope, chart.notes.path, run);
  return undefined;
}

function isBlank(s: string): boolean {
  // Only whitespace, comments and document markers: nothing to apply.
  return s.split('\n').every((l) => /^\s*(#.*)?$/.test(l) || /^(---|\.\.\.)\s*$/.test(l));
}

function parse(engine: ChartEngine, file: { path: string; content: string }, run: RenderRun) {
  try {
    return engine.parse(file);
  } catch (err) {
    const d = templateDiagnostic(err, file.path, run);
    if (d) run.diagnostics.push(d);
    return undefined;
  }
}

async function renderFile(engine: ChartEngine, tpl: NonNullable<ReturnType<typeof parse>>, scope: object, path: string, run: RenderRun): Promise<string | undefined> {
  if (run.stopped) return undefined;
  const left = run.deadline - run.now();
  if (left <= 0) {
    run.stopped = true;
    run.diagnostics.push(diagnostic('error', 'CAPSTAN_ERR_CHART_LIMIT', `rendering took longer than ${run.limits.timeMs} ms; stopped before this template${run.via}`, { file: path }));
    return undefined;
  }
  try {
    return await engine.render(tpl, scope, left);
  } catch (err) {
    const d = templateDiagnostic(err, path, run);
    // After a limit, the rest of the render would only hit it again.
    if (d?.code === 'CAPSTAN_ERR_CHART_LIMIT') run.stopped = true;
    if (d) run.diagnostics.push(d);
    return undefined;
  }
}

/** The error as a diagnostic at its template and line; undefined when already reported. */
function templateDiagnostic(err: unknown, renderedFile: string, run: RenderRun): Diagnostic | undefined {
  if (isCapstanError(err)) return err.toDiagnostic(renderedFile);
  const info = describeTemplateError(err);
  const code = info.limit ? 'CAPSTAN_ERR_CHART_LIMIT' : 'CAPSTAN_ERR_CHART_TEMPLATE';
  const file = info.file ?? renderedFile;
  const key = `${file}:${info.line}:${info.column}:${info.message}`;
  if (run.seen.has(key)) return undefined;
  run.seen.add(key);
  // An error inside a partial also names the template that included it.
  const from = file !== renderedFile ? ` (included from ${renderedFile})` : '';
  return diagnostic('error', code, `${info.message}${from}${run.via}`, { file, line: info.line, column: info.column });
}
