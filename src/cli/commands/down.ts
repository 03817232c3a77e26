// `capstan down`: stop what `capstan up` left running. Ctrl-C on `up` keeps pods running on
// purpose (the next `up` adopts them); this is the way to end them. It asks first, and refuses
// while `up` itself still runs, since its agent would start them again.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CapstanError, silentLogger } from '../../common/index.js';
import type { ContainerHandle, RuntimeDriver } from '../../agent/runtime.js';
import { connect, type ConnectionOptions } from '../api-client.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';

export interface DownOptions extends ConnectionOptions {
  dataDir: string;
  /** Do not ask. */
  yes?: boolean;
  /** The node name `up` ran as (default: this host's, as `up` picks it). */
  node?: string;
  /** Seconds each container gets between SIGTERM and SIGKILL (default 10). */
  grace?: number;
  /** Answers the question (a terminal's line); absent and without --yes, `down` refuses. */
  ask?: (question: string) => Promise<string>;
}

async function runtimes(stateDir: string, node: string): Promise<{ name: string; driver: RuntimeDriver }[]> {
  const { ProcessRuntime, DockerRuntime, dockerUnavailableReason } = await import('../../agent/index.js');
  const out: { name: string; driver: RuntimeDriver }[] = [];
  if (existsSync(stateDir)) out.push({ name: 'process', driver: new ProcessRuntime({ stateDir, node, logger: silentLogger() }) });
  if ((await dockerUnavailableReason(undefined, 1500)) === undefined) out.push({ name: 'docker', driver: new DockerRuntime({ node, logger: silentLogger() }) });
  return out;
}

export async function runDown(io: CliIO, opts: DownOptions): Promise<void> {
  const dataDir = resolve(io.cwd, opts.dataDir);
  const stateDir = resolve(dataDir, 'agent');
  // A running `up` would restart what is stopped here: it has to go first.
  const running = await connect(io, opts)
    .get('/healthz')
    .then(() => true)
    .catch(() => false);
  if (running) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'capstan up is still running for this data dir (its API answers): stop it with Ctrl-C first, then run capstan down');
  }
  const { localNodeName } = await import('../../compose/local.js');
  const node = opts.node ?? localNodeName();
  const found: { runtime: string; driver: RuntimeDriver; handle: ContainerHandle }[] = [];
  for (const r of await runtimes(stateDir, node)) {
    for (const handle of await r.driver.list()) found.push({ runtime: r.name, driver: r.driver, handle });
  }
  if (found.length === 0) {
    io.out(`Nothing to stop: no pod of node ${node} runs${existsSync(dataDir) ? '' : ` (no ${opts.dataDir})`}.\n`);
    return;
  }
  const lines = found.map((f) => `  ${f.handle.ref.namespace}/${f.handle.ref.pod} ${f.handle.ref.container} (${f.runtime}${f.handle.pid !== undefined ? `, pid ${f.handle.pid}` : ''})`);
  io.out(`${found.length} container(s) of node ${node} run:\n${lines.join('\n')}\n`);
  if (!opts.yes) {
    if (!opts.ask) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'not a terminal: pass --yes to stop them');
    const answer = (await opts.ask(`Stop and remove them? [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      io.out('Nothing stopped.\n');
      return;
    }
  }
  const graceMs = (opts.grace ?? 10) * 1000;
  const failed: string[] = [];
  await Promise.all(
    found.map(async (f) => {
      try {
        await f.driver.stop(f.handle, graceMs);
        await f.driver.remove(f.handle);
      } catch (err) {
        failed.push(`${f.handle.ref.namespace}/${f.handle.ref.pod} ${f.handle.ref.container}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  io.out(`Stopped ${found.length - failed.length} of ${found.length}. The store and Git are kept; capstan up starts the pods again.\n`);
  if (failed.length > 0) {
    io.err(`capstan: could not stop:\n  ${failed.join('\n  ')}\n`);
    throw new ExitRequest(EXIT_FAILURE);
  }
}
