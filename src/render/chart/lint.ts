import { LineCounter, parseAllDocuments } from 'yaml';
import { diagnostic, isCapstanError, type Diagnostic } from '../../common/index.js';
import { loadChart } from './load.js';
import { renderChartDetailed } from './render.js';
import type { Chart, ChartRepo } from './types.js';

/** Release used when linting: what `capstan chart template` uses without flags. */
export const LINT_RELEASE = { name: 'release-name', namespace: 'default' };

/**
 * Check a chart: Chart.yaml, values against the schema, every template rendered with the
 * default values, and the rendered YAML parsed. Errors and warnings, never a throw for input.
 */
export async function lintChart(chartDir: string, repo: ChartRepo): Promise<Diagnostic[]> {
  let chart: Chart;
  try {
    chart = await loadChart(chartDir, repo);
  } catch (err) {
    if (isCapstanError(err)) return [err.toDiagnostic(`${chartDir}/Chart.yaml`)];
    throw err;
  }
  const out: Diagnostic[] = [];
  lintStructure(chart, out, new Set());
  const result = await renderChartDetailed(chart, { release: LINT_RELEASE });
  out.push(...result.diagnostics);
  for (const d of result.duplicateDefines) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_CHART_TEMPLATE', `define "${d.name}" is defined more than once; the last one wins`, { file: d.file ?? chart.dir, line: d.line }));
  }
  for (const path of result.empty) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_RENDER_EMPTY', 'the template renders to nothing with the default values', { file: path }));
  }
  for (const f of result.files) out.push(...checkRenderedYaml(f.path, f.content));
  return out;
}

function lintStructure(chart: Chart, out: Diagnostic[], seen: Set<string>): void {
  if (seen.has(chart.dir)) return;
  seen.add(chart.dir);
  const chartFile = chart.dir === '' ? 'Chart.yaml' : `${chart.dir}/Chart.yaml`;
  for (const k of chart.unknownKeys) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_CHART_INVALID', `Chart.yaml: ${k.key} is not a field Capstan uses; it is ignored`, { file: chartFile, line: k.line, column: k.column }));
  }
  if (!chart.schema) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_CHART_INVALID', 'the chart has no values.schema.json, so values are not checked', { file: chartFile }));
  }
  if (chart.templates.length === 0) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_RENDER_EMPTY', 'the chart has no templates/*.yaml', { file: chartFile }));
  }
  for (const path of chart.ignored) {
    out.push(diagnostic('warning', 'CAPSTAN_ERR_CHART_INVALID', 'not a template (*.yaml), a partial (_*) or NOTES.txt; it is ignored', { file: path }));
  }
  for (const dep of chart.dependencies) lintStructure(dep.chart, out, seen);
}

/** The rendered text parses as YAML, and each document is a mapping (an object). */
export function checkRenderedYaml(file: string, content: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const lc = new LineCounter();
  const docs = parseAllDocuments(content, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) return out;
  for (const doc of docs) {
    for (const e of doc.errors) {
      const p = lc.linePos(e.pos[0]);
      out.push(
        diagnostic('error', 'CAPSTAN_ERR_RENDER_SYNTAX', `rendered output is not valid YAML at line ${p.line} of the output: ${e.message.split('\n')[0]}`, {
          file,
        }),
      );
    }
    if (doc.errors.length > 0) continue;
    let v: unknown;
    try {
      v = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      out.push(diagnostic('error', 'CAPSTAN_ERR_RENDER_ALIAS_LIMIT', `rendered output: ${(e as Error).message}`, { file }));
      continue;
    }
    if (v === null || v === undefined) continue;
    if (typeof v !== 'object' || Array.isArray(v)) {
      const r = doc.contents?.range;
      const p = r ? lc.linePos(r[0]) : undefined;
      out.push(diagnostic('error', 'CAPSTAN_ERR_RENDER_NOT_OBJECT', `a rendered document${p ? ` (output line ${p.line})` : ''} is not a mapping`, { file }));
    }
  }
  return out;
}
