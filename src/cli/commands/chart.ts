import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CapstanError, formatDiagnostic, type Diagnostic } from '../../common/index.js';
import { folderRepo, lintChart, loadChart, renderChart } from '../../render/chart/index.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';


/**
 * The repository a local chart belongs to: the nearest folder above it with `.git`, else the
 * current folder when the chart is inside it, else the chart's own folder. Dependencies and
 * diagnostics use paths relative to it.
 */
export function chartRoot(cwd: string, chartPath: string): { root: string; chartDir: string } {
  const abs = resolve(cwd, chartPath);
  for (let dir = abs; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return { root: dir, chartDir: toRepoPath(relative(dir, abs)) };
    if (dirname(dir) === dir) break;
  }
  const rel = relative(cwd, abs);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) return { root: cwd, chartDir: toRepoPath(rel) };
  return { root: abs, chartDir: '' };
}

function toRepoPath(p: string): string {
  return p.split(sep).join('/');
}

/** Values files named on the command line are the user's own: read them as given. */
async function readValuesFiles(cwd: string, files: string[]): Promise<{ file: string; content: string }[]> {
  const out: { file: string; content: string }[] = [];
  for (const file of files) {
    try {
      out.push({ file, content: await readFile(resolve(cwd, file), 'utf8') });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `values file ${file} does not exist`, { location: { file } });
    }
  }
  return out;
}

function printDiagnostics(io: CliIO, diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) io.err(`${formatDiagnostic(d)}\n`);
}

export interface TemplateOptions {
  values: string[];
  set: string[];
  setString: string[];
  releaseName: string;
  namespace: string;
  notes?: boolean;
}

/** Each document of a rendered file as `---`, `# Source: <template>`, the YAML (as Helm prints). */
export function formatRendered(path: string, content: string): string {
  const docs: string[][] = [[]];
  for (const line of content.split('\n')) {
    if (/^---(\s|$)/.test(line)) docs.push([]);
    else docs[docs.length - 1].push(line);
  }
  return docs
    .map((lines) => lines.join('\n').replace(/^(\s*\n)+/, '').replace(/\s+$/, ''))
    .filter((doc) => doc.split('\n').some((l) => !/^\s*(#.*)?$/.test(l)))
    .map((doc) => `---\n# Source: ${path}\n${doc}\n`)
    .join('');
}

export async function runChartTemplate(io: CliIO, chartPath: string, opts: TemplateOptions): Promise<void> {
  const { root, chartDir } = chartRoot(io.cwd, chartPath);
  let chart;
  let valuesTexts;
  try {
    valuesTexts = await readValuesFiles(io.cwd, opts.values);
    chart = await loadChart(chartDir, folderRepo(root));
  } catch (err) {
    if (err instanceof CapstanError) {
      printDiagnostics(io, [err.toDiagnostic(chartPath)]);
      throw new ExitRequest(EXIT_FAILURE);
    }
    throw err;
  }
  const result = await renderChart(chart, {
    valuesTexts,
    set: opts.set,
    setString: opts.setString,
    release: { name: opts.releaseName, namespace: opts.namespace },
  });
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  printDiagnostics(io, result.diagnostics);
  if (errors.length > 0) throw new ExitRequest(EXIT_FAILURE);
  io.out(result.files.map((f) => formatRendered(f.path, f.content)).join(''));
  if (opts.notes && result.notes) io.err(`${result.notes.trim()}\n`);
}

export async function runChartLint(io: CliIO, chartPath: string): Promise<void> {
  const { root, chartDir } = chartRoot(io.cwd, chartPath);
  const diagnostics = await lintChart(chartDir, folderRepo(root));
  printDiagnostics(io, diagnostics);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  io.err(`${chartPath}: ${errors} error(s), ${warnings} warning(s)\n`);
  if (errors > 0) throw new ExitRequest(EXIT_FAILURE);
}
