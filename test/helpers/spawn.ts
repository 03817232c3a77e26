// Capstan processes spawned from the built binary for end-to-end tests: output in
// `<dir>/<name>.out`, started once a line shows, stopped by signal with a 10 s limit.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPSTAN_BIN } from './cli.js';
import { waitFor } from './cluster.js';

export const BUILT = existsSync(join(CAPSTAN_BIN, '..', '..', 'dist', 'cli', 'main.js'));

export class CapstanProcesses {
  private readonly children = new Map<string, ChildProcess>();
  /** Children that ignored SIGTERM and were killed. */
  readonly hung: string[] = [];

  /** `label` names the test in the warning about children that ignored SIGTERM. */
  constructor(
    private readonly dir: string,
    private readonly label = 'e2e',
  ) {}

  names(): string[] {
    return [...this.children.keys()];
  }

  output(name: string): string {
    const out = join(this.dir, `${name}.out`);
    return existsSync(out) ? readFileSync(out, 'utf8') : '';
  }

  /** Spawn `capstan ...args`; resolves once `ready` matches its output. */
  async start(name: string, args: string[], ready: RegExp, timeoutMs = 20_000): Promise<ChildProcess> {
    const fd = openSync(join(this.dir, `${name}.out`), 'a');
    const child = spawn(process.execPath, [CAPSTAN_BIN, ...args], { cwd: this.dir, stdio: ['ignore', fd, fd], env: { ...process.env, NO_COLOR: '1' } });
    this.children.set(name, child);
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${this.output(name)}`);
      return ready.test(this.output(name));
    }, timeoutMs, `${name} to start`);
    return child;
  }

  stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.children.get(name);
    this.children.delete(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.hung.push(name);
        child.kill('SIGKILL');
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  /** Everything but `last` first (agents leave their pods running), then `last`. */
  async stopAll(last = 'server'): Promise<void> {
    for (const name of this.names().filter((n) => n !== last)) await this.stop(name);
    await this.stop(last);
    if (this.hung.length > 0) console.warn(`[${this.label}] did not stop on SIGTERM within 10 s: ${this.hung.join(', ')}`);
  }
}
