import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { CapstanError, isCapstanError } from '../../common/index.js';
import { joinRepoPath, normalizeRepoPath } from './paths.js';
import type { Chart, ChartDependency, ChartFile, ChartMetadata, ChartRepo, ValuesSource } from './types.js';
import { parseValuesYaml } from './values.js';

/** A chart file larger than this is refused before it is decoded or parsed. */
export const MAX_CHART_FILE_BYTES = 1024 * 1024;

// Semantic Versioning 2.0.0, the regular expression the spec itself suggests.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const CHART_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KNOWN_KEYS = new Set(['apiVersion', 'name', 'version', 'description', 'appVersion', 'dependencies', 'type', 'keywords', 'home', 'maintainers']);

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function readText(repo: ChartRepo, path: string): Promise<string | undefined> {
  const bytes = await repo.readFile(path);
  if (bytes === undefined) return undefined;
  if (bytes.byteLength > MAX_CHART_FILE_BYTES) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_TOO_LARGE', `${path} is ${bytes.byteLength} bytes, over the ${MAX_CHART_FILE_BYTES}-byte limit for chart files`, {
      location: { file: path },
    });
  }
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_BINARY', `${path} is not UTF-8 text`, { cause: err, location: { file: path } });
  }
}

function invalid(file: string, message: string, line?: number, column?: number): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CHART_INVALID', message, { location: { file, line, column } });
}

interface ParsedChartYaml {
  metadata: ChartMetadata;
  unknownKeys: Chart['unknownKeys'];
  /** Line of each dependency entry, for cycle errors. */
  depLines: (number | undefined)[];
}

function parseChartYaml(file: string, text: string): ParsedChartYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const p = lc.linePos(err.pos[0]);
    throw invalid(file, `Chart.yaml is not valid YAML: ${err.message.split('\n')[0]}`, p.line, p.col);
  }
  const at = (node: unknown): { line?: number; column?: number } => {
    const r = (node as Node | null | undefined)?.range;
    if (!r) return {};
    const p = lc.linePos(r[0]);
    return { line: p.line, column: p.col };
  };
  const root = doc.contents;
  if (!isMap(root)) throw invalid(file, 'Chart.yaml must be a mapping with name and version', 1, 1);
  let data: Record<string, unknown>;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (e) {
    throw invalid(file, `Chart.yaml: ${(e as Error).message}`);
  }
  const field = (k: string) => at(root.get(k, true));

  const name = data.name;
  if (typeof name !== 'string' || name === '') throw invalid(file, 'Chart.yaml: name is required', 1, 1);
  if (!CHART_NAME.test(name) || name.length > 63) {
    const p = field('name');
    throw invalid(file, `Chart.yaml: name ${JSON.stringify(name)} must be lower-case letters, digits and '-' (at most 63)`, p.line, p.column);
  }
  const version = data.version;
  if (version === undefined) throw invalid(file, 'Chart.yaml: version is required', 1, 1);
  if (typeof version !== 'string' || !SEMVER.test(version)) {
    const p = field('version');
    throw invalid(file, `Chart.yaml: version ${JSON.stringify(version)} is not a semantic version such as 1.2.3`, p.line, p.column);
  }
  for (const k of ['description', 'appVersion'] as const) {
    if (data[k] !== undefined && typeof data[k] !== 'string' && typeof data[k] !== 'number') {
      const p = field(k);
      throw invalid(file, `Chart.yaml: ${k} must be a string`, p.line, p.column);
    }
  }
  const dependencies: ChartDependency[] = [];
  const depLines: (number | undefined)[] = [];
  if (data.dependencies !== undefined && data.dependencies !== null) {
    const depsNode = root.get('dependencies', true) as { items?: unknown[] } | undefined;
    if (!Array.isArray(data.dependencies)) {
      const p = field('dependencies');
      throw invalid(file, 'Chart.yaml: dependencies must be a list of { name, path }', p.line, p.column);
    }
    const seen = new Set<string>();
    data.dependencies.forEach((d: unknown, i: number) => {
      const p = at(depsNode?.items?.[i]);
      const dep = d as Record<string, unknown> | null;
      if (!dep || typeof dep.name !== 'string' || typeof dep.path !== 'string' || !CHART_NAME.test(dep.name)) {
        throw invalid(file, `Chart.yaml: dependencies[${i}] needs a name (lower-case, digits, '-') and a path`, p.line, p.column);
      }
      if (seen.has(dep.name)) throw invalid(file, `Chart.yaml: dependency ${dep.name} is listed twice`, p.line, p.column);
      seen.add(dep.name);
      dependencies.push({ name: dep.name, path: dep.path });
      depLines.push(p.line);
    });
  }
  const unknownKeys: Chart['unknownKeys'] = [];
  for (const item of root.items) {
    const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
    if (!KNOWN_KEYS.has(key)) unknownKeys.push({ key, ...at(item.key) });
  }
  const metadata: ChartMetadata = { name, version, dependencies };
  if (data.description !== undefined) metadata.description = String(data.description);
  if (data.appVersion !== undefined) metadata.appVersion = String(data.appVersion);
  return { metadata, unknownKeys, depLines };
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/**
 * Read a chart and its dependencies. `chartDir` is repo-relative; a path outside the
 * repository, a missing Chart.yaml, an invalid Chart.yaml, values.yaml or schema, or a
 * dependency cycle throws a CapstanError pointing at the file (and line) to fix.
 */
export async function loadChart(chartDir: string, repo: ChartRepo): Promise<Chart> {
  const dir = normalizeRepoPath(chartDir, 'chart path');
  return load(dir, repo, []);
}

async function load(dir: string, repo: ChartRepo, chain: string[]): Promise<Chart> {
  const chartFile = joinRepoPath(dir, 'Chart.yaml');
  const text = await readText(repo, chartFile);
  if (text === undefined) {
    throw new CapstanError('CAPSTAN_ERR_CHART_NOT_FOUND', `no chart at ${dir === '' ? '.' : dir}: ${chartFile} does not exist`, {
      location: { file: chartFile },
      context: { chart: dir },
    });
  }
  const { metadata, unknownKeys, depLines } = parseChartYaml(chartFile, text);

  const valuesFile = joinRepoPath(dir, 'values.yaml');
  const valuesText = await readText(repo, valuesFile);
  const values: ValuesSource = valuesText === undefined ? { file: valuesFile, data: {}, locate: () => undefined } : parseValuesYaml(valuesFile, valuesText);

  let schema: Chart['schema'];
  const schemaFile = joinRepoPath(dir, 'values.schema.json');
  const schemaText = await readText(repo, schemaFile);
  if (schemaText !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(schemaText);
    } catch (err) {
      throw invalid(schemaFile, `values.schema.json is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(schemaFile, 'values.schema.json must be a JSON Schema object');
    schema = { file: schemaFile, schema: parsed as Record<string, unknown> };
  }

  const templatesDir = joinRepoPath(dir, 'templates');
  const templates: ChartFile[] = [];
  const partials: ChartFile[] = [];
  const ignored: string[] = [];
  let notes: ChartFile | undefined;
  for (const path of (await repo.listFiles(templatesDir)).sort()) {
    const name = baseName(path);
    const isTemplate = /\.ya?ml$/.test(name) && !name.startsWith('_');
    const isPartial = name.startsWith('_');
    const isNotes = path === `${templatesDir}/NOTES.txt`;
    if (!isTemplate && !isPartial && !isNotes) {
      ignored.push(path);
      continue;
    }
    const content = (await readText(repo, path)) ?? '';
    if (isNotes) notes = { path, content };
    else (isPartial ? partials : templates).push({ path, content });
  }

  const here = [...chain, dir];
  const dependencies: Chart['dependencies'] = [];
  for (const [i, dep] of metadata.dependencies.entries()) {
    let depDir: string;
    try {
      depDir = joinRepoPath(dir, dep.path, `dependency ${dep.name} path`);
    } catch (err) {
      if (isCapstanError(err)) throw new CapstanError(err.code, err.message, { cause: err, location: { file: chartFile, line: depLines[i] } });
      throw err;
    }
    if (here.includes(depDir)) {
      const loop = [...here.slice(here.indexOf(depDir)), depDir].map((d) => d || '.').join(' -> ');
      throw new CapstanError('CAPSTAN_ERR_CHART_CYCLE', `chart dependencies form a cycle: ${loop}`, {
        location: { file: chartFile, line: depLines[i] },
        context: { chain: loop },
      });
    }
    try {
      dependencies.push({ name: dep.name, chart: await load(depDir, repo, here) });
    } catch (err) {
      // A missing sub-chart is the parent's mistake: point at the dependency entry.
      if (isCapstanError(err, 'CAPSTAN_ERR_CHART_NOT_FOUND')) {
        throw new CapstanError(err.code, `dependency ${dep.name}: ${err.message}`, { cause: err, location: { file: chartFile, line: depLines[i] } });
      }
      throw err;
    }
  }

  return { dir, metadata, values, schema, templates, partials, notes, ignored, unknownKeys, dependencies, repo };
}
