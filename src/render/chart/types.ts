import type { Diagnostic } from '../../common/index.js';
import type { FieldPath, Position } from '../types.js';

/**
 * Read access to a repository by repo-relative POSIX paths. The Git and folder sources adapt to
 * this; charts never see anything outside it.
 */
export interface ChartRepo {
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Repo-relative paths of every file under `dir`, recursively; [] when `dir` does not exist. */
  listFiles(dir: string): Promise<string[]>;
}

export interface ChartDependency {
  /** Name the parent uses: the sub-chart gets the parent's `values.<name>`. */
  name: string;
  /** Path of the sub-chart, relative to the parent chart's directory. */
  path: string;
}

/** Chart.yaml after validation. */
export interface ChartMetadata {
  name: string;
  version: string;
  description?: string;
  appVersion?: string;
  dependencies: ChartDependency[];
}

export interface ChartFile {
  /** Repo-relative path. */
  path: string;
  content: string;
}

/** Values read from one place, with a way to find where a value was written. */
export interface ValuesSource {
  /** File (or `--set`) shown in diagnostics. */
  file: string;
  data: Record<string, unknown>;
  /** Position of the value at `path`, when it was written there. */
  locate(path: FieldPath): Position | undefined;
}

export interface Chart {
  /** Repo-relative directory holding Chart.yaml. */
  dir: string;
  metadata: ChartMetadata;
  /** The chart's own values.yaml (empty when it has none). */
  values: ValuesSource;
  /** Parsed values.schema.json, when the chart has one. */
  schema?: { file: string; schema: Record<string, unknown> };
  /** `templates/*.yaml|yml` rendered into objects, in path order. */
  templates: ChartFile[];
  /** `templates/_*` files: `{% define %}` blocks and files for `{% render %}`. */
  partials: ChartFile[];
  notes?: ChartFile;
  /** Other files under templates/ that are neither (lint warns about them). */
  ignored: string[];
  /** Chart.yaml keys Capstan does not know (lint warns about them). */
  unknownKeys: { key: string; line?: number; column?: number }[];
  /** Loaded sub-charts, in Chart.yaml order. */
  dependencies: { name: string; chart: Chart }[];
  repo: ChartRepo;
}

export interface ChartLimits {
  /** Wall time for a whole render, sub-charts included (default 2000 ms). */
  timeMs: number;
  /** Total rendered bytes, and the most any one capture or include may produce (default 10 MiB). */
  outputBytes: number;
  /** liquidjs allocation budget per template: range sizes, joins, appends (default 32M units). */
  memory: number;
  /** Deepest `include` nesting (default 64): stops a define that includes itself. */
  includeDepth: number;
}

export const DEFAULT_CHART_LIMITS: ChartLimits = {
  timeMs: 2000,
  outputBytes: 10 * 1024 * 1024,
  memory: 32_000_000,
  includeDepth: 64,
};

/** Where the release that uses the chart is written (the ChartRelease manifest). */
export interface ReleaseSource {
  file: string;
  line?: number;
  column?: number;
  /** Position of `spec.values.<path>` in the manifest, to point value errors at it. */
  locate?(path: FieldPath): Position | undefined;
}

export interface RenderChartOptions {
  /** Inline values (a ChartRelease's `spec.values`). */
  values?: Record<string, unknown>;
  /** Values files already read (the CLI's `-f`), in order; `file` is how diagnostics name them. */
  valuesTexts?: { file: string; content: string }[];
  /**
   * Repo-relative values files, in order, after `valuesTexts`; read from `valuesRepo` (default:
   * the chart's repository). Paths that leave the repository are refused.
   */
  valuesFiles?: string[];
  /** Helm-style `a.b=c,d[0]=e`, typed (numbers, booleans, null). */
  set?: string[];
  /** Like `set` but every value stays a string. */
  setString?: string[];
  release: { name: string; namespace: string };
  /** The ChartRelease manifest, for diagnostics about inline values and for context. */
  source?: ReleaseSource;
  valuesRepo?: ChartRepo;
  limits?: Partial<ChartLimits>;
  /** Injected clock (ms) for the time budget; defaults to performance.now. */
  now?: () => number;
}

export interface ChartRenderResult {
  /** Non-empty rendered templates; `path` is the template's repo-relative path. */
  files: { path: string; content: string }[];
  /** The rendered NOTES.txt of the top chart. */
  notes?: string;
  diagnostics: Diagnostic[];
}
