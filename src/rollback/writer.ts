// The repository a rollback commits to, opened on first use: the served repository, a bare
// or remote repository (with credentials). A plain folder, or a work tree whose branch is
// checked out (a commit would leave the checkout behind), cannot be written.
import { CapstanError, type Logger } from '../common/index.js';
import { openStatusRepo, type StatusRepo } from '../gitstatus/index.js';
import type { SourceAuth } from '../source/types.js';

export interface RollbackWriterOptions {
  /** The source location as opened (URL or path). */
  repo: string;
  branch: string;
  dataDir: string;
  logger: Logger;
  auth?: SourceAuth;
}

export function rollbackWriter(options: RollbackWriterOptions): () => Promise<StatusRepo> {
  let opened: Promise<StatusRepo> | undefined;
  const open = async (): Promise<StatusRepo> => {
    const r = await openStatusRepo({ repo: options.repo, dataDir: options.dataDir, logger: options.logger, ...(options.auth ? { auth: options.auth } : {}) });
    if (r.kind === 'folder') throw new CapstanError('CAPSTAN_ERR_SOURCE_READ_ONLY', `${r.reason}; a rollback commit needs a repository (or use --live)`);
    if (r.kind === 'worktree' && r.checkedOut === options.branch) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_READ_ONLY', `${options.branch} is checked out in ${options.repo}; commit the rollback there yourself, or use --live`);
    }
    return r.repo;
  };
  return () => {
    // A failed open is retried next time (Git may be back).
    opened ??= open().catch((err: unknown) => {
      opened = undefined;
      throw err;
    });
    return opened;
  };
}
