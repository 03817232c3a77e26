import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerChartCommands } from '../../src/cli/commands/chart-command.js';
import { ExitRequest, type CliIO } from '../../src/cli/io.js';
import { folderRepo, lintChart, loadChart, mergeValues, parseSetValues, renderChart } from '../../src/render/chart/index.js';
import { chartFiles, makeRepoDir } from './helpers.js';

const release = { name: 'r1', namespace: 'ns' };

describe('--set parsing follows Helm', () => {
  it('types values, builds paths and lists, honours escapes', () => {
    expect(parseSetValues(['a.b=c,d[0]=e', 'n=42,z=0,lead=007,t=true,f=FALSE,nil=null,neg=-3,ver=1.10'])).toEqual({
      a: { b: 'c' },
      d: ['e'],
      n: 42,
      z: 0,
      lead: '007',
      t: true,
      f: false,
      nil: null,
      neg: -3,
      ver: '1.10',
    });
    expect(parseSetValues(['list={a,b,c}', 'x\\.y=1', 'msg=a\\,b', 'deep[1].name=n'])).toEqual({
      list: ['a', 'b', 'c'],
      'x.y': 1,
      msg: 'a,b',
      deep: [null, { name: 'n' }],
    });
    expect(parseSetValues(['n=42'], true)).toEqual({ n: '42' });
  });

  it('refuses malformed expressions and prototype keys', () => {
    expect(() => parseSetValues(['novalue'])).toThrow(/key=value/);
    expect(() => parseSetValues(['a[999999]=1'])).toThrow(/index/);
    expect(() => parseSetValues(['__proto__.polluted=1'])).toThrow(/not allowed/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('merges maps key by key, replaces lists, and null removes a key', () => {
    expect(mergeValues({ a: { x: 1, y: 2 }, l: [1, 2], k: 1 }, { a: { y: 3 }, l: [9], k: null })).toEqual({ a: { x: 1, y: 3 }, l: [9] });
  });
});

describe('precedence and dependencies', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ root, cleanup } = await makeRepoDir({
      ...chartFiles('charts/app', { 'a.yaml': 'kind: ConfigMap\ndata:\n  v: "{{ values.v }}"\n  chart: "{{ chart.name }}-{{ chart.version }}"\n  rel: "{{ release.namespace }}/{{ release.name }}"\n' }, {
        'values.yaml': 'v: chart\ndb:\n  size: small\n',
      }),
      'charts/app/Chart.yaml': 'name: app\nversion: 1.2.3\ndependencies:\n  - name: db\n    path: ../db\n',
      ...chartFiles('charts/db', { 'db.yaml': 'kind: ConfigMap\ndata:\n  size: {{ values.size }}\n  owner: {{ values.owner | default: "none" }}\n' }, {
        'values.yaml': 'size: tiny\n',
        'values.schema.json': JSON.stringify({ type: 'object', properties: { size: { enum: ['tiny', 'small', 'large'] } } }),
      }),
      'v1.yaml': 'v: file1\n',
      'v2.yaml': 'v: file2\ndb:\n  owner: team\n',
      'v3.yaml': 'db:\n  size: huge\n',
    }));
  });
  afterAll(async () => cleanup());

  it('values.yaml < values files in order < inline values < --set', async () => {
    const chart = await loadChart('charts/app', folderRepo(root));
    const get = async (opts: object) => (await renderChart(chart, { release, ...opts })).files[0].content.match(/v: "(.*)"/)?.[1];
    expect(await get({})).toBe('chart');
    expect(await get({ valuesFiles: ['v1.yaml'] })).toBe('file1');
    expect(await get({ valuesFiles: ['v2.yaml', 'v1.yaml'] })).toBe('file1');
    expect(await get({ valuesFiles: ['v1.yaml', 'v2.yaml'] })).toBe('file2');
    expect(await get({ valuesFiles: ['v1.yaml'], values: { v: 'inline' } })).toBe('inline');
    expect(await get({ valuesFiles: ['v1.yaml'], values: { v: 'inline' }, set: ['v=set'] })).toBe('set');
  });

  it('renders a dependency with the parent values.<name>, checked by its own schema', async () => {
    const chart = await loadChart('charts/app', folderRepo(root));
    const r = await renderChart(chart, { release, valuesFiles: ['v2.yaml'] });
    expect(r.diagnostics).toEqual([]);
    expect(r.files.map((f) => f.path)).toEqual(['charts/app/templates/a.yaml', 'charts/db/templates/db.yaml']);
    expect(r.files[0].content).toContain('chart: "app-1.2.3"');
    expect(r.files[0].content).toContain('rel: "ns/r1"');
    expect(r.files[1].content).toContain('size: small');
    expect(r.files[1].content).toContain('owner: team');
    const bad = await renderChart(chart, { release, valuesFiles: ['v3.yaml'] });
    expect(bad.diagnostics).toHaveLength(1);
    expect(bad.diagnostics[0]).toMatchObject({ code: 'CAPSTAN_ERR_CHART_VALUES', file: 'v3.yaml', line: 2 });
    expect(bad.diagnostics[0].message).toContain('size: must be one of');
  });

  it('lint warns about templates that render to nothing and files it ignores', async () => {
    const { root: r, cleanup: c } = await makeRepoDir({
      ...chartFiles('c', { 'empty.yaml': '{% if values.on %}kind: ConfigMap{% endif %}\n# nothing\n', 'list.yaml': '- a\n- b\n', 'readme.md': 'x' }),
    });
    try {
      const ds = await lintChart('c', folderRepo(r));
      expect(ds.map((d) => [d.severity, d.code, d.file])).toEqual([
        ['warning', 'CAPSTAN_ERR_CHART_INVALID', 'c/Chart.yaml'],
        ['warning', 'CAPSTAN_ERR_CHART_INVALID', 'c/templates/readme.md'],
        ['warning', 'CAPSTAN_ERR_RENDER_EMPTY', 'c/templates/empty.yaml'],
        ['error', 'CAPSTAN_ERR_RENDER_NOT_OBJECT', 'c/templates/list.yaml'],
      ]);
    } finally {
      await c();
    }
  });
});

function memoryIO(cwd: string): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    color: false,
    env: {},
    cwd,
  };
  return io;
}

async function runCli(cwd: string, args: string[]) {
  const io = memoryIO(cwd);
  const program = new Command('capstan').exitOverride();
  registerChartCommands(program, io);
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof ExitRequest) code = err.exitCode;
    else throw err;
  }
  return { code, out: io.stdout, err: io.stderr };
}

describe('capstan chart template / lint', () => {
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

  it('prints each document under # Source: with the template path', async () => {
    const r = await runCli(repoRoot, ['chart', 'template', 'helm-like-charts/web-service', '--set', 'strategy.type=BlueGreen', '--release-name', 'shop', '-n', 'prod']);
    expect(r.code).toBe(0);
    const sources = r.out.match(/^# Source: .*$/gm);
    expect(sources).toEqual([
      '# Source: helm-like-charts/web-service/templates/configmap.yaml',
      '# Source: helm-like-charts/web-service/templates/service.yaml',
      '# Source: helm-like-charts/web-service/templates/service.yaml',
      '# Source: helm-like-charts/web-service/templates/workload.yaml',
    ]);
    expect(r.out).toContain('name: shop-web-service-preview');
    expect(r.out).toContain('namespace: prod');
  });

  it('reads -f values files relative to the current folder and reports errors with exit 1', async () => {
    const { root, cleanup } = await makeRepoDir({ 'vals.yaml': 'replicas: -1\n' });
    try {
      await mkdir(join(root, 'sub'));
      const r = await runCli(join(root, 'sub'), ['chart', 'template', join(repoRoot, 'helm-like-charts/cron-task'), '-f', '../vals.yaml']);
      expect(r.code).toBe(1);
      expect(r.err).toContain('../vals.yaml:1:1: replicas: is not a known value');
      const w = await runCli(root, ['chart', 'template', join(repoRoot, 'helm-like-charts/web-service'), '-f', 'vals.yaml']);
      expect(w.code).toBe(1);
      expect(w.err).toContain('vals.yaml:1:1: replicas: must be >= 0 [CAPSTAN_ERR_CHART_VALUES]');
      expect(w.out).toBe('');
      const m = await runCli(root, ['chart', 'template', join(repoRoot, 'helm-like-charts/web-service'), '-f', 'missing.yaml']);
      expect(m.code).toBe(1);
      expect(m.err).toContain('missing.yaml: values file missing.yaml does not exist');
    } finally {
      await cleanup();
    }
  });

  it('lint passes on the shipped charts and fails on a broken one', async () => {
    expect((await runCli(repoRoot, ['chart', 'lint', 'helm-like-charts/web-service'])).code).toBe(0);
    expect((await runCli(repoRoot, ['chart', 'lint', 'helm-like-charts/cron-task'])).code).toBe(0);
    const { root, cleanup } = await makeRepoDir(chartFiles('broken', { 'a.yaml': 'x: {{ values.x | nope }}\n' }));
    try {
      const r = await runCli(root, ['chart', 'lint', 'broken']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^broken\/templates\/a\.yaml:1:\d+: .*nope.* \[CAPSTAN_ERR_CHART_TEMPLATE\]$/m);
      expect((await runCli(root, ['chart', 'lint', 'missing'])).code).toBe(1);
    } finally {
      await cleanup();
    }
  });
});

describe('schema messages', () => {
  it('a value that fits no branch of a oneOf gets one message listing what would fit', async () => {
    const repo = folderRepo(fileURLToPath(new URL('../..', import.meta.url)));
    const chart = await loadChart('helm-like-charts/web-service', repo);
    const r = await renderChart(chart, { release, set: ['strategy.rollingUpdate.maxSurge=lots'] });
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0].message).toBe('strategy.rollingUpdate.maxSurge: must be integer, or must match pattern "^[0-9]+%$"');
  });
});
