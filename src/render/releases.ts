// ChartRelease objects → the objects their charts render. Rendered objects are validated like
// any manifest, carry the release that owns them, and land in the release's namespace unless
// a template names one. Every problem names the template and the release that used it.

import { fileURLToPath } from 'node:url';
import type { SourcedObject } from '../api/types.js';
import { isCapstanError, type Diagnostic } from '../common/index.js';
import type { Source } from '../source/types.js';
import { folderRepo, loadChart, renderChart, type ChartRepo } from './chart/index.js';
import type { FileResult } from './desired.js';
import { loadFile } from './load-file.js';

/** Charts shipped with Capstan: `helm-like-charts/<name>` resolves here when the repository has no such folder. */
export const BUNDLED_CHARTS_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLED_PREFIX = 'helm-like-charts/';

let bundled: ChartRepo | undefined;
function bundledCharts(): ChartRepo {
  return (bundled ??= folderRepo(BUNDLED_CHARTS_ROOT));
}

/** A ChartRepo reading a source at one commit. */
export function sourceChartRepo(source: Source, ref: string | undefined): ChartRepo {
  return {
    readFile: (path) => source.readFile(path, ref),
    listFiles: (dir) => source.listFiles(dir, ref),
  };
}

interface ReleaseSpec {
  chart: string;
  values?: Record<string, unknown>;
  valuesFiles?: string[];
  namespace?: string;
}

async function chartRepoFor(repo: ChartRepo, chartPath: string): Promise<ChartRepo> {
  const normalized = chartPath.replace(/^\.\//, '').replace(/\/+$/, '');
  if (!normalized.startsWith(BUNDLED_PREFIX)) return repo;
  const own = await repo.readFile(`${normalized}/Chart.yaml`).catch(() => undefined);
  return own === undefined ? bundledCharts() : repo;
}

function via(release: SourcedObject): string {
  const m = release.object.metadata;
  return `release ${m.namespace}/${m.name} in ${release.source.file}:${release.source.line}`;
}

async function renderOne(release: SourcedObject, repo: ChartRepo, out: FileResult): Promise<void> {
  const spec = release.object.spec as ReleaseSpec;
  const meta = release.object.metadata;
  const namespace = spec.namespace ?? meta.namespace;
  const at = { file: release.source.file, line: release.source.line, column: release.source.column };
  let result;
  try {
    const chartRepo = await chartRepoFor(repo, spec.chart);
    const chart = await loadChart(spec.chart, chartRepo);
    result = await renderChart(chart, {
      values: spec.values,
      valuesFiles: spec.valuesFiles,
      valuesRepo: repo,
      release: { name: meta.name, namespace },
      source: at,
    });
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    const d = err.toDiagnostic(at.file);
    // A chart that cannot be found or read is a problem of the release manifest.
    out.errors.push({ ...d, file: at.file, line: at.line, column: at.column, field: 'spec.chart', message: `${d.message} (${via(release)})` });
    return;
  }
  for (const d of result.diagnostics) (d.severity === 'error' ? out.errors : out.warnings).push(d);
  const owner = { namespace: meta.namespace, name: meta.name, file: at.file, line: at.line };
  for (const file of result.files) {
    const r = loadFile({ path: file.path, content: file.content }, { defaultNamespace: namespace });
    const tag = (d: Diagnostic): Diagnostic => ({ ...d, message: `${d.message} (rendered for ${via(release)})` });
    out.errors.push(...r.errors.map(tag));
    out.warnings.push(...r.warnings.map(tag));
    for (const o of r.objects) out.objects.push({ ...o, source: { ...o.source, release: owner } });
  }
}

/** Render every release against `repo` (the repository the releases came from). */
export function releaseRenderer(repo: ChartRepo): (releases: SourcedObject[]) => Promise<FileResult> {
  return async (releases) => {
    const out: FileResult = { objects: [], errors: [], warnings: [] };
    for (const release of releases) await renderOne(release, repo, out);
    return out;
  };
}
