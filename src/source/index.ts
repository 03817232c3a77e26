export { openSource } from './open.js';
export { FolderSource } from './folder.js';
export { LocalGitSource } from './local-git.js';
export { RemoteGitSource } from './remote-git.js';
export { compileSourceOptions } from './collect.js';
export type { CompiledSourceOptions } from './collect.js';
export { gitBlobId, checkText } from './content.js';
export type { TextProblem } from './content.js';
export { isManifestPath, normalizeRepoPath } from './paths.js';
export { DEFAULT_SOURCE_LIMITS } from './types.js';
export type { CommitInfo } from './types.js';
export type {
  Source,
  SourceAuth,
  SourceFile,
  SourceKind,
  SourceLimits,
  SourceOptions,
  SourceSnapshot,
} from './types.js';
