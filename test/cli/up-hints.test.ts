// The "Try:" lines of `capstan up`: they name a Deployment or Rollout the synced source holds,
// never one it does not, and leave the workload line out when it has none. The end-to-end
// cases run `capstan up` in-process on folder sources, on 127.0.0.1 and a free port.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runUp } from '../../src/cli/commands/up.js';
import type { CliIO } from '../../src/cli/io.js';
import { tryLines } from '../../src/cli/up-hints.js';
import { freePort } from '../helpers/git-server.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function source(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-up-hints-src-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Runs `capstan up` until its banner is out, then stops it; gives what it printed. */
async function upBanner(src: string): Promise<string> {
  const cwd = mkdtempSync(join(tmpdir(), 'capstan-up-hints-cwd-'));
  dirs.push(cwd);
  mkdirSync(join(cwd, 'data'));
  const out: string[] = [];
  const io: CliIO = { out: (t) => void out.push(t), err: (t) => void out.push(t), color: false, env: {}, cwd };
  const stop = new AbortController();
  await runUp(io, src, {
    dataDir: 'data',
    host: '127.0.0.1',
    port: await freePort(),
    runtime: 'process',
    router: false,
    statusWrite: false,
    dnsPort: 0,
    syncSchedule: '0 0 1 1 *',
    logLevel: 'warn',
    signal: stop.signal,
    onReady: () => stop.abort(),
  });
  return out.join('');
}

const tryBlock = (banner: string): string[] => {
  const lines = banner.split('\n');
  const from = lines.indexOf('Try:');
  expect(from, banner).toBeGreaterThan(-1);
  const rest = lines.slice(from + 1);
  return rest.slice(0, rest.indexOf(''));
};

const deployment = (name: string, namespace = 'default') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 0
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: main
          image: busybox
          command: ["sleep", "3600"]
`;

describe('capstan up: Try lines', () => {
  it('names a Deployment of the source, and its Services', async () => {
    const src = source({
      'shop.yaml': deployment('shop'),
      'shop-svc.yaml': `apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  selector: { app: shop }\n  ports:\n    - port: 80\n`,
    });
    const lines = tryBlock(await upBanner(src));
    expect(lines).toEqual([
      '  npx capstan get pods --data-dir data',
      '  npx capstan get deployments --data-dir data',
      '  npx capstan get services --data-dir data',
      '  npx capstan status shop --wait --data-dir data',
    ]);
  }, 60_000);

  it('leaves the workload lines out when the source has no Deployment or Rollout', async () => {
    const src = source({ 'settings.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: quiet\n` });
    const banner = await upBanner(src);
    expect(tryBlock(banner)).toEqual(['  npx capstan get pods --data-dir data']);
    expect(banner).not.toContain('web');
  }, 60_000);
});

describe('tryLines (pure)', () => {
  it('prefers a workload of the default namespace, a Deployment before a Rollout, then by name', () => {
    const lines = tryLines(
      [
        { kind: 'Rollout', namespace: 'default', name: 'api' },
        { kind: 'Deployment', namespace: 'shop', name: 'cart' },
        { kind: 'Deployment', namespace: 'default', name: 'worker' },
        { kind: 'Deployment', namespace: 'default', name: 'front' },
      ],
      '',
    );
    expect(lines).toEqual(['  npx capstan get pods', '  npx capstan get deployments', '  npx capstan status front --wait']);
  });

  it('names the namespace of a workload outside default, and a Rollout alone', () => {
    expect(tryLines([{ kind: 'Rollout', namespace: 'shop', name: 'cart' }], ' --data-dir d')).toEqual([
      '  npx capstan get pods --data-dir d',
      '  npx capstan status cart -n shop --wait --data-dir d',
    ]);
  });

  it('with nothing synced, only get pods', () => {
    expect(tryLines([], '')).toEqual(['  npx capstan get pods']);
  });
});
