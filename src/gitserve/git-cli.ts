// The `git` program: serving over smart HTTP runs `git http-backend`, and seeding the
// served repository runs plumbing commands. Both need git installed; say so plainly if not.
import { execFile } from 'node:child_process';
import { CapstanError } from '../common/index.js';

/** A fixed, minimal environment: no user or system config, never a terminal prompt. */
export function gitEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export interface RunGitOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  gitBinary?: string;
}

/** Runs git and resolves with its trimmed stdout; a failure carries git's stderr. */
export function runGit(args: string[], options: RunGitOptions = {}): Promise<string> {
  const bin = options.gitBinary ?? 'git';
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd: options.cwd, env: gitEnv(options.env), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout.trim());
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(missingGit(bin, err));
      reject(new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `git ${args[0] ?? ''} failed: ${stderr.trim() || err.message}`, { cause: err, context: { args } }));
    });
  });
}

function missingGit(bin: string, cause: unknown): CapstanError {
  return new CapstanError(
    'CAPSTAN_ERR_SOURCE_GIT_MISSING',
    `the git program (${bin}) was not found on PATH; install git (e.g. apt-get install git) to serve a folder as a repository, or give capstan a Git URL or repository instead`,
    { cause },
  );
}

/** The installed git version (e.g. "2.39.5"); CAPSTAN_ERR_SOURCE_GIT_MISSING when there is none. */
export async function checkGit(gitBinary = 'git'): Promise<string> {
  const out = await runGit(['--version'], { gitBinary });
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(out);
  return m ? m[1]! : out;
}
