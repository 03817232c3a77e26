// The data folder lock is held by the kernel (an abstract-namespace Unix socket on Linux):
// a holder that is SIGKILLed frees it at once, a live holder is named in the refusal, and a
// pid left in the LOCK file is only information. The holder is a child process running the
// compiled store (dist/), which `npm test` builds first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { isCapstanError } from '../../src/common/index.js';
import { lockDataDir, openEmbeddedStore } from '../../src/store/embedded/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, 'fixtures', 'lock-child.mjs');
const dist = join(here, '..', '..', 'dist', 'store', 'embedded', 'lock.js');
const linux = process.platform === 'linux';
const canSpawn = existsSync(dist) && linux;
if (!existsSync(dist)) console.warn(`store lock process tests skipped: ${dist} is missing; run "npm run build" first (npm test does)`);
if (!linux) console.warn('store lock process tests skipped: the abstract socket lock is Linux only');

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'capstan-lock-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A child process holding the store in `dir`; resolves once it has it open. */
function holder(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/OPEN \d+/.test(out)) resolve(proc);
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    proc.on('exit', (code) => reject(new Error(`holder exited early (${code}): ${err}`)));
  });
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the open to be refused');
}

describe.skipIf(!canSpawn)('store lock across processes', () => {
  it('refuses while another process holds the folder, naming its pid', async () => {
    const proc = await holder();
    const err = await refusal(openEmbeddedStore({ dir }));
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_UNAVAILABLE')).toBe(true);
    expect(err.message).toBe(`the store in ${dir} is already open by process ${proc.pid}`);
  });

  it('reopens at once after the holder is SIGKILLed, before its exit is even reaped', async () => {
    const proc = await holder();
    proc.kill('SIGKILL');
    // No wait for 'exit': the kernel drops the socket as the process dies, and a pid check
    // would still see the unreaped process (the old PID-file lock refused here).
    let kv: Awaited<ReturnType<typeof openEmbeddedStore>> | undefined;
    for (let i = 0; i < 50 && kv === undefined; i++) {
      kv = await openEmbeddedStore({ dir }).catch(async (err: Error) => {
        // Only until the kill has landed (a few ms); a refusal must name the killed holder.
        expect(err.message).toContain(`by process ${proc.pid}`);
        await new Promise((r) => setTimeout(r, 20));
        return undefined;
      });
    }
    expect(kv).toBeDefined();
    expect((await kv!.get('/held'))?.value.toString()).toBe(String(proc.pid));
    await kv!.close();
  });
});

describe.skipIf(!linux)('store lock in one process', () => {
  it('refuses a second open here, also through another spelling of the path, and allows it after close', async () => {
    const release = await lockDataDir(dir);
    const link = `${dir}-link`;
    await symlink(dir, link);
    try {
      expect((await refusal(lockDataDir(dir))).message).toContain('already open in this process');
      expect((await refusal(lockDataDir(link))).message).toContain('already open in this process');
    } finally {
      await release();
      await rm(link, { force: true });
    }
    const again = await lockDataDir(dir);
    await again();
  });

  it('a pid in a leftover LOCK file does not hold the folder, even when that pid is alive', async () => {
    // pid 1 is alive (and not ours): the PID-file lock refused exactly this after pid reuse.
    await writeFile(join(dir, 'LOCK'), '1\n');
    const kv = await openEmbeddedStore({ dir });
    await kv.close();
  });
});

describe('store file modes', () => {
  const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;

  it('keeps the WAL, snapshots and LOCK 0600 in a 0700 folder, and tightens an older looser one with an info line', async () => {
    const store = join(dir, 'store');
    const kv = await openEmbeddedStore({ dir: store, snapshotEvery: 10 });
    for (let i = 0; i < 30; i++) await kv.put(`/k${i}`, 'v');
    expect(await mode(join(store, 'LOCK'))).toBe(0o600);
    await kv.close();
    const names = await readdir(store);
    expect(names.some((n) => n.endsWith('.snap'))).toBe(true);
    expect(names.some((n) => n.endsWith('.wal'))).toBe(true);
    expect(await mode(store)).toBe(0o700);
    for (const n of names) expect([n, await mode(join(store, n))]).toEqual([n, 0o600]);

    await chmod(store, 0o755);
    for (const n of names) await chmod(join(store, n), 0o644);
    const lines: string[] = [];
    const logger = pino({ level: 'info', base: undefined }, { write: (l: string) => void lines.push(l) });
    const again = await openEmbeddedStore({ dir: store, logger });
    expect(await mode(store)).toBe(0o700);
    for (const n of await readdir(store)) expect([n, await mode(join(store, n))]).toEqual([n, 0o600]);
    // The folder itself and each file in it.
    const info = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('tightened the modes'));
    expect(info).toMatchObject({ level: 30, msg: `tightened the modes of ${names.length + 1} path(s) in ${store}: group and others had access` });
    await again.close();
  });
});
