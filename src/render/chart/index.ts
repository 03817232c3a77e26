export { loadChart, MAX_CHART_FILE_BYTES } from './load.js';
export { renderChart } from './render.js';
export { lintChart, checkRenderedYaml, LINT_RELEASE } from './lint.js';
export { folderRepo } from './folder-repo.js';
export { parseSetValues } from './set.js';
export { mergeValues } from './values.js';
export { normalizeRepoPath } from './paths.js';
export { DEFAULT_CHART_LIMITS } from './types.js';
export type {
  Chart,
  ChartDependency,
  ChartFile,
  ChartLimits,
  ChartMetadata,
  ChartRenderResult,
  ChartRepo,
  ReleaseSource,
  RenderChartOptions,
  ValuesSource,
} from './types.js';
