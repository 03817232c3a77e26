// What the control plane needs from this folder when it starts: which location to read
// manifests from (the served repository in place of a plain folder) and the request
// handler for /git/.
import { silentLogger, isCapstanError, type Logger } from '../common/index.js';
import { checkGit } from './git-cli.js';
import { ensureServedRepo, isPlainFolder, type ServedRepo } from './seed.js';

export interface ServedSourceOptions {
  /** The source as the user gave it. */
  source: string;
  branch?: string;
  dataDir: string;
  /** Serve a plain folder as a Git repository (default true). */
  serveGit?: boolean;
  logger?: Logger;
  gitBinary?: string;
}

export interface ServedSource {
  /** The location to open: the served repository, or the source unchanged. */
  source: string;
  branch?: string;
  /** Set when a plain folder is served as `<dataDir>/repo.git`. */
  served?: ServedRepo;
}

/**
 * A plain folder becomes `<dataDir>/repo.git` (seeded from it once) and the source is that
 * repository's main branch; anything else is returned as given. Without git installed the
 * folder is read as plain files, with a warning that says what is missing.
 */
export async function servedSourceFor(options: ServedSourceOptions): Promise<ServedSource> {
  const log = options.logger ?? silentLogger();
  const asGiven: ServedSource = { source: options.source, ...(options.branch !== undefined ? { branch: options.branch } : {}) };
  if (options.serveGit === false || !(await isPlainFolder(options.source))) return asGiven;
  try {
    await checkGit(options.gitBinary);
  } catch (err) {
    if (!isCapstanError(err, 'CAPSTAN_ERR_SOURCE_GIT_MISSING')) throw err;
    log.warn({ code: err.code }, `${err.message}; reading ${options.source} as plain files, without a Git server`);
    return asGiven;
  }
  const served = await ensureServedRepo({
    dataDir: options.dataDir,
    seedFolder: options.source,
    logger: log,
    ...(options.gitBinary ? { gitBinary: options.gitBinary } : {}),
  });
  return { source: served.path, branch: served.branch, served };
}
