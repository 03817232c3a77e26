export { checkGit, gitEnv, runGit } from './git-cli.js';
export type { RunGitOptions } from './git-cli.js';
export { ensureServedRepo, isBareRepo, isPlainFolder, SERVED_BRANCH, SERVED_REPO_NAME } from './seed.js';
export type { ServedRepo, ServedRepoOptions } from './seed.js';
export { basicPassword, createGitHttpHandler, GIT_HTTP_PREFIX, gitService, splitCgiOutput } from './http.js';
export type { GitHttpHandler, GitHttpOptions, HistoryRewrite } from './http.js';
export { servedSourceFor } from './compose.js';
export type { ServedSource, ServedSourceOptions } from './compose.js';
export { anonymousReadWarning, cloneCommand, credentialHelper, shellQuote } from './clone-hint.js';
