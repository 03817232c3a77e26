export { parseManifestFile } from './yaml.js';
export { desiredFromSnapshot, loadFile, chartRoots, FileResultCache } from './desired.js';
export type { DesiredState, DesiredOptions, FileResult } from './desired.js';
export { loadDesired, loadDesiredFrom } from './load.js';
export { DesiredTracker } from './tracker.js';
export type { LoadOptions } from './load.js';
export { DEFAULT_PARSE_LIMITS } from './types.js';
export type { ParsedDocument, ParseResult, ParseLimits, FieldPath, Position } from './types.js';
