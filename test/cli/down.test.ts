// `capstan down`: the pods `up` leaves running on Ctrl-C are stopped only after the user says
// yes, and not while `up` still answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PodManager, ProcessRuntime } from '../../src/agent/index.js';
import { runDown } from '../../src/cli/commands/down.js';
import type { CliIO } from '../../src/cli/io.js';
import { makePod } from '../agent/pods.js';
import { waitFor } from '../helpers/cluster.js';
import { freePort } from '../helpers/git-server.js';

let dataDir: string;
let pid: number;
// A node name of its own, so Docker containers of other tests are never listed here.
const node = `down-test-${process.pid}`;

function alive(p: number): boolean {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
}

function io(): CliIO & { text: () => string } {
  let out = '';
  return { out: (t) => void (out += t), err: (t) => void (out += t), color: false, env: {}, cwd: dataDir, text: () => out };
}

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'capstan-down-'));
  // What `up` leaves behind: a pod started by the local agent's process runtime, still running.
  const runtime = new ProcessRuntime({ stateDir: join(dataDir, 'agent'), node });
  const manager = new PodManager({ driver: runtime, node, onStatus: () => undefined, onRemoved: () => undefined, hostIP: '127.0.0.1' });
  await manager.sync([makePod('sleeper', [{ name: 'main', image: 'unused', command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }])]);
  const handles = await waitFor(async () => {
    const list = await runtime.list();
    return list.length === 1 && list[0]!.pid !== undefined ? list : undefined;
  }, 10_000, 'the pod process');
  pid = handles[0]!.pid!;
  await manager.close({ stopContainers: false });
  expect(alive(pid)).toBe(true);
});

afterEach(() => {
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('capstan down', () => {
  it('lists what runs, stops nothing on "no", and stops it on "yes"', async () => {
    const server = `http://127.0.0.1:${await freePort()}`;
    const said = io();
    await runDown(said, { dataDir, node, server, token: 'x', ask: async () => 'n' });
    expect(said.text()).toContain('default/sleeper main (process, pid');
    expect(said.text()).toContain('Nothing stopped.');
    expect(alive(pid)).toBe(true);

    await expect(runDown(io(), { dataDir, node, server, token: 'x' })).rejects.toThrow('pass --yes');
    expect(alive(pid)).toBe(true);

    const yes = io();
    await runDown(yes, { dataDir, node, server, token: 'x', ask: async () => 'y', grace: 2 });
    expect(yes.text()).toContain('Stopped 1 of 1');
    await waitFor(() => !alive(pid), 5000, 'the pod process to end');
    const again = io();
    await runDown(again, { dataDir, node, server, token: 'x', yes: true });
    expect(again.text()).toContain('Nothing to stop');
  });

  it('refuses while up still answers on --server', async () => {
    const { createServer } = await import('node:http');
    const api = createServer((_q, s) => s.end('{"status":"ok"}')).listen(0, '127.0.0.1');
    await new Promise((r) => api.once('listening', r));
    try {
      const port = (api.address() as { port: number }).port;
      await expect(runDown(io(), { dataDir, node, server: `http://127.0.0.1:${port}`, token: 'x', yes: true })).rejects.toThrow('capstan up is still running');
      expect(alive(pid)).toBe(true);
    } finally {
      api.close();
    }
  });
});
