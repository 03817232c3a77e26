// Crash safety: a child process serves writes from an on-disk store and is killed with
// SIGKILL mid-stream. Every write it acknowledged must be there after reopening, with the
// revision it was acknowledged with, and revisions never go backwards.
// The child runs the compiled store (dist/), which `npm test` builds first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../../src/store/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, 'fixtures', 'crash-child.mjs');
const dist = join(here, '..', '..', 'dist', 'store', 'embedded', 'index.js');
const haveDist = existsSync(dist);
const runs = Number(process.env.CAPSTAN_CRASH_RUNS ?? 3);

if (!haveDist) console.warn(`crash test skipped: ${dist} is missing; run "npm run build" first (npm test does)`);

function startChild(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    proc.on('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
  });
}

/** One client connection keeping `depth` writes in flight, recording acknowledgements. */
function writer(port: number, name: string, depth: number, acked: Map<string, number>, onAck: () => void): { stop(): void; done: Promise<void> } {
  let seq = 0;
  let stopped = false;
  const sock: Socket = connect(port, '127.0.0.1');
  const keys = new Map<string, string>();
  let lastRev = 0;
  let buf = '';
  const send = () => {
    if (stopped) return;
    const id = String(seq++);
    const key = `/crash/${name}/${id}`;
    keys.set(id, key);
    sock.write(`${id} ${key} ${key}\n`);
  };
  const done = new Promise<void>((resolve, reject) => {
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      for (let i = 0; i < depth; i++) send();
    });
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [id, rev] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        const revision = Number(rev);
        if (!Number.isFinite(revision)) return reject(new Error(`write failed: ${rev}`));
        // Acknowledgements on one connection come in increasing revision order.
        if (revision <= lastRev) return reject(new Error(`revision went backwards: ${revision} after ${lastRev}`));
        lastRev = revision;
        acked.set(keys.get(id!)!, revision);
        onAck();
        send();
      }
    });
    // The kill cuts the connection; that is the expected end.
    sock.on('close', () => resolve());
    sock.on('error', () => undefined);
  });
  return {
    stop() {
      stopped = true;
    },
    done,
  };
}

describe('crash safety (SIGKILL)', () => {
  it.skipIf(!haveDist)(`keeps every acknowledged write across ${runs} kills`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-crash-'));
    const acked = new Map<string, number>();
    let highest = 0;
    try {
      for (let run = 0; run < runs; run++) {
        const { proc, port } = await startChild(dir);
        const exited = new Promise<void>((r) => proc.on('exit', () => r()));
        const target = 100 + Math.floor(Math.random() * 400);
        let count = 0;
        let killed = false;
        const writers = Array.from({ length: 4 }, (_, i) =>
          writer(port, `${run}-${i}`, 16, acked, () => {
            if (++count >= target && !killed) {
              killed = true;
              proc.kill('SIGKILL');
            }
          }),
        );
        await exited;
        for (const w of writers) w.stop();
        await Promise.all(writers.map((w) => w.done));
        expect(killed).toBe(true);

        const kv = await openEmbeddedStore({ dir });
        try {
          const rev = await kv.revision();
          let max = 0;
          const problems: string[] = [];
          for (const [key, revision] of acked) {
            const got = await kv.get(key);
            if (!got) problems.push(`acknowledged ${key} at ${revision} is missing after kill ${run + 1}`);
            else if (got.modRevision !== revision || Buffer.from(got.value).toString() !== key) {
              problems.push(`${key}: acknowledged at ${revision}, found at ${got.modRevision}`);
            }
            max = Math.max(max, revision);
          }
          expect(problems).toEqual([]);
          expect(rev).toBeGreaterThanOrEqual(max);
          expect(rev).toBeGreaterThanOrEqual(highest); // never backwards across restarts
          highest = rev;
          expect(new Set(acked.values()).size).toBe(acked.size);
        } finally {
          await kv.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000 + runs * 5_000);
});
