import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process with captured output (fast; same code path as the binary). */
export async function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    color: false,
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? process.cwd(),
  };
  const code = await main(['node', 'capstan', ...args], io);
  return { code, stdout, stderr };
}

export const CAPSTAN_BIN = fileURLToPath(new URL('../../bin/capstan.js', import.meta.url));

/** Run the built binary as a user would (needs `npm run build`, which `npm test` runs first). */
export function runBin(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, [CAPSTAN_BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
