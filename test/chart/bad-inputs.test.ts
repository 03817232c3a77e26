import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError, type Diagnostic } from '../../src/common/index.js';
import { folderRepo, loadChart, renderChart, type ChartRepo } from '../../src/render/chart/index.js';
import { chartFiles, link, makeRepoDir } from './helpers.js';

const release = { name: 'r1', namespace: 'ns' };

let root: string;
let cleanup: () => Promise<void>;
let repo: ChartRepo;

const schema = JSON.stringify({
  type: 'object',
  properties: {
    replicas: { type: 'integer' },
    image: { type: 'object', required: ['repository'], properties: { repository: { type: 'string' } } },
  },
});

beforeAll(async () => {
  ({ root, cleanup } = await makeRepoDir({
    ...chartFiles('charts/ok', { 'cm.yaml': 'kind: ConfigMap\ndata:\n  replicas: "{{ values.replicas }}"\n  secret: {{ values.secret | quote }}\n  text: {{ values.text }}\n' }, {
      'values.yaml': 'replicas: 1\nimage:\n  repository: web\nsecret: hunter2\ntext: plain\n',
      'values.schema.json': schema,
    }),
    'values/bad.yaml': '# replicas must be a number\nimage:\n  repository: web\nreplicas: three\n',
    'values/broken.yaml': 'replicas: [1,\n',
    ...chartFiles('charts/syntax', { 'a.yaml': 'kind: ConfigMap\ndata:\n  x: {{ values.x }}\n  {% if values.x %}\n  y: 1\n' }),
    ...chartFiles('charts/badfilter', { 'a.yaml': 'kind: ConfigMap\ndata:\n  x: {{ values.x | nosuchfilter }}\n' }),
    ...chartFiles('charts/loop', { 'a.yaml': 'kind: ConfigMap\ndata:\n{% for i in (1..100000000) %}  k{{ i }}: v\n{% endfor %}' }),
    ...chartFiles('charts/nested', { 'a.yaml': 'kind: ConfigMap\ndata:\n{% for i in (1..5000) %}{% for j in (1..5000) %}{{ i }}{{ j }}{% endfor %}{% endfor %}' }),
    ...chartFiles('charts/huge', {
      'a.yaml': '{% assign s = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" %}{% for i in (1..20000) %}{% for j in (1..100) %}{{ s }}{% endfor %}{% endfor %}',
    }),
    ...chartFiles('charts/doubling', {
      'a.yaml': '{% capture s %}xx{% endcapture %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s | size }}',
    }),
    ...chartFiles('charts/recursive', { '_h.tpl': '{% define "me" %}{{ "me" | include }}{% enddefine %}', 'a.yaml': 'x: {{ "me" | include }}\n' }),
    ...chartFiles('charts/required', { 'a.yaml': 'kind: ConfigMap\ndata:\n  image: {{ values.image | required: "image is required: set image to the image to run" }}\n' }),
    ...chartFiles('charts/mapout', { 'a.yaml': 'kind: ConfigMap\ndata: {{ values.obj }}\n' }, { 'values.yaml': 'obj: {a: 1}\n' }),
    ...chartFiles('charts/nodate', { 'a.yaml': 'x: {{ "now" | date: "%Y" }}\n' }),
    ...chartFiles('charts/fileread', { 'a.yaml': '{% include "/etc/passwd" %}{% render "../../../etc/hostname" %}\n' }),
    ...chartFiles('charts/cyc-a', {}, {}),
    'charts/cyc-a/Chart.yaml': 'name: cyc-a\nversion: 1.0.0\ndependencies:\n  - name: b\n    path: ../cyc-b\n',
    'charts/cyc-b/Chart.yaml': 'name: cyc-b\nversion: 1.0.0\ndependencies:\n  - name: a\n    path: ../cyc-a\n',
    'charts/self/Chart.yaml': 'name: self\nversion: 1.0.0\ndependencies:\n  - name: me\n    path: .\n',
    'charts/badversion/Chart.yaml': 'name: badversion\nversion: "1.0"\n',
    'charts/escape-dep/Chart.yaml': 'name: escape-dep\nversion: 1.0.0\ndependencies:\n  - name: up\n    path: ../../../outside\n',
  }));
  await link(root, '/etc', 'charts/ok/templates/_etc');
  repo = folderRepo(root);
});

afterAll(async () => {
  await cleanup();
});

async function render(chartDir: string, extra: Partial<Parameters<typeof renderChart>[1]> = {}) {
  const chart = await loadChart(chartDir, repo);
  return renderChart(chart, { release, ...extra });
}

function only(ds: Diagnostic[]): Diagnostic {
  expect(ds).toHaveLength(1);
  return ds[0];
}

async function loadError(chartDir: string) {
  try {
    await loadChart(chartDir, repo);
  } catch (err) {
    if (isCapstanError(err)) return err;
    throw err;
  }
  throw new Error(`loading ${chartDir} should have failed`);
}

describe('charts refuse bad input with a clear error', () => {
  it('a chart path outside the repository', async () => {
    const err = await loadError('../x');
    expect(err.code).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    expect(err.message).toContain('../x');
    expect((await loadError('/etc')).code).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    expect((await loadError('charts/../../x')).code).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
  });

  it('a dependency path outside the repository, pointing at Chart.yaml', async () => {
    const err = await loadError('charts/escape-dep');
    expect(err.code).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    expect(err.location).toMatchObject({ file: 'charts/escape-dep/Chart.yaml', line: 4 });
  });

  it('a symlink out of the repository is refused when read', async () => {
    await expect(repo.readFile('charts/ok/templates/_etc/hostname')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE' });
    await expect(loadChart('charts/ok', repo)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE' });
  });

  it('a missing chart', async () => {
    const err = await loadError('charts/nope');
    expect(err.code).toBe('CAPSTAN_ERR_CHART_NOT_FOUND');
    expect(err.location?.file).toBe('charts/nope/Chart.yaml');
  });

  it('a Chart.yaml whose version is not semver', async () => {
    const err = await loadError('charts/badversion');
    expect(err.code).toBe('CAPSTAN_ERR_CHART_INVALID');
    expect(err.location).toMatchObject({ file: 'charts/badversion/Chart.yaml', line: 2 });
  });

  it('a dependency cycle names the chain', async () => {
    const err = await loadError('charts/cyc-a');
    expect(err.code).toBe('CAPSTAN_ERR_CHART_CYCLE');
    expect(err.message).toContain('charts/cyc-a -> charts/cyc-b -> charts/cyc-a');
    expect(err.location).toMatchObject({ file: 'charts/cyc-b/Chart.yaml', line: 4 });
    expect((await loadError('charts/self')).code).toBe('CAPSTAN_ERR_CHART_CYCLE');
  });
});

describe('values', () => {
  it('schema errors point at the values file and line', async () => {
    const { root: r2, cleanup: c2 } = await makeRepoDir({
      ...chartFiles('c', { 'cm.yaml': 'kind: ConfigMap\ndata:\n  r: "{{ values.replicas }}"\n' }, { 'values.yaml': 'replicas: 1\nimage:\n  repository: web\n', 'values.schema.json': schema }),
      'values/bad.yaml': '# replicas must be a number\nimage:\n  repository: web\nreplicas: three\n',
      'values/broken.yaml': 'replicas: [1,\n',
      'values/noimage.yaml': 'image:\n  repository: null\n',
    });
    try {
      const r2repo = folderRepo(r2);
      const chart = await loadChart('c', r2repo);
      const bad = await renderChart(chart, { release, valuesFiles: ['values/bad.yaml'] });
      expect(bad.files).toEqual([]);
      expect(only(bad.diagnostics)).toMatchObject({
        code: 'CAPSTAN_ERR_CHART_VALUES',
        message: 'replicas: must be integer',
        file: 'values/bad.yaml',
        line: 4,
        column: 1,
        field: 'replicas',
      });
      const broken = await renderChart(chart, { release, valuesFiles: ['values/broken.yaml'] });
      expect(only(broken.diagnostics)).toMatchObject({ code: 'CAPSTAN_ERR_CHART_VALUES', file: 'values/broken.yaml' });
      expect(broken.diagnostics[0].line).toBeGreaterThan(0);
      const missing = await renderChart(chart, { release, valuesFiles: ['values/nope.yaml'] });
      expect(only(missing.diagnostics).message).toContain('values/nope.yaml');
      const escape = await renderChart(chart, { release, valuesFiles: ['../../etc/passwd'] });
      expect(only(escape.diagnostics).code).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
      // A null removes the chart's default, so the schema's `required` names the path.
      const noimage = await renderChart(chart, { release, valuesFiles: ['values/noimage.yaml'] });
      expect(only(noimage.diagnostics)).toMatchObject({ message: 'image.repository: is required', file: 'values/noimage.yaml', line: 2 });
      // --set and inline values are checked the same way; inline errors point at the release.
      const set = await renderChart(chart, { release, set: ['replicas=many'] });
      expect(only(set.diagnostics)).toMatchObject({ message: 'replicas: must be integer', file: '--set' });
      const inline = await renderChart(chart, {
        release,
        values: { replicas: 'x' },
        source: { file: 'apps/web.yaml', line: 1, locate: (p) => (p.join('.') === 'replicas' ? { line: 9, column: 5 } : undefined) },
      });
      expect(only(inline.diagnostics)).toMatchObject({ message: 'replicas: must be integer', file: 'apps/web.yaml', line: 9, column: 5 });
      const ok = await renderChart(chart, { release, set: ['replicas=3'] });
      expect(ok.diagnostics).toEqual([]);
      expect(ok.files[0].content).toContain('r: "3"');
    } finally {
      await c2();
    }
  });
});

describe('templates', () => {
  it('a syntax error names the template file and line', async () => {
    const d = only((await render('charts/syntax')).diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_TEMPLATE', file: 'charts/syntax/templates/a.yaml', line: 4 });
    expect(d.message).toMatch(/not closed/);
  });

  it('an unknown filter is an error (strict filters), at its line', async () => {
    const d = only((await render('charts/badfilter')).diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_TEMPLATE', file: 'charts/badfilter/templates/a.yaml', line: 3 });
    expect(d.message).toContain('nosuchfilter');
  });

  it('errors name the release that used the chart', async () => {
    const r = await render('charts/badfilter', { source: { file: 'apps/release.yaml', line: 2 } });
    expect(only(r.diagnostics).message).toContain('release ns/r1 in apps/release.yaml:2');
  });

  it('a loop over a huge range hits the limit', async () => {
    const d = only((await render('charts/loop')).diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_LIMIT', file: 'charts/loop/templates/a.yaml', line: 3 });
  });

  it('nested loops that would run for minutes hit the time or memory limit', async () => {
    const d = only((await render('charts/nested', { limits: { timeMs: 300 } })).diagnostics);
    expect(d.code).toBe('CAPSTAN_ERR_CHART_LIMIT');
    expect(d.file).toBe('charts/nested/templates/a.yaml');
  });

  it('output over the size limit stops the render', async () => {
    const d = only((await render('charts/huge', { limits: { outputBytes: 1024 * 1024 } })).diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_LIMIT', file: 'charts/huge/templates/a.yaml' });
    expect(d.message).toContain('byte limit');
  });

  it('a capture that doubles itself is stopped by the size limit', async () => {
    const d = only((await render('charts/doubling', { limits: { outputBytes: 1024 * 1024 } })).diagnostics);
    expect(d.code).toBe('CAPSTAN_ERR_CHART_LIMIT');
  });

  it('a define that includes itself is stopped', async () => {
    const d = only((await render('charts/recursive')).diagnostics);
    expect(d.code).toBe('CAPSTAN_ERR_CHART_LIMIT');
    expect(d.message).toContain('"me"');
  });

  it('the time budget is shared by the whole render (injected clock)', async () => {
    let t = 0;
    const r = await render('charts/required', { values: { image: 'x' }, now: () => (t += 5000) });
    expect(only(r.diagnostics).code).toBe('CAPSTAN_ERR_CHART_LIMIT');
  });

  it('required fails with its message', async () => {
    const d = only((await render('charts/required')).diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_TEMPLATE', file: 'charts/required/templates/a.yaml', line: 3 });
    expect(d.message).toBe('image is required: set image to the image to run');
    const ok = await render('charts/required', { values: { image: 'web:1' } });
    expect(ok.files[0].content).toContain('image: web:1');
  });

  it('an error in a partial of a shipped chart is reported once, at the partial, naming the template', async () => {
    const shipped = folderRepo(fileURLToPath(new URL('../..', import.meta.url)));
    const chart = await loadChart('helm-like-charts/web-service', shipped);
    const r = await renderChart(chart, { release, set: ['image.repository='] });
    const d = only(r.diagnostics);
    expect(d).toMatchObject({ code: 'CAPSTAN_ERR_CHART_TEMPLATE', file: 'helm-like-charts/web-service/templates/_helpers.tpl' });
    expect(d.line).toBeGreaterThan(0);
    expect(d.message).toContain('image.repository is required');
    expect(d.message).toContain('included from helm-like-charts/web-service/templates/workload.yaml');
  });

  it('writing a mapping without toYaml is an error, not [object Object]', async () => {
    const d = only((await render('charts/mapout')).diagnostics);
    expect(d.message).toContain('toYaml');
    expect(d.line).toBe(2);
  });

  it('the clock is not available to templates', async () => {
    expect(only((await render('charts/nodate')).diagnostics).message).toContain('date');
  });

  it('templates cannot read files outside the chart partials', async () => {
    const d = only((await render('charts/fileread')).diagnostics);
    expect(d.code).toBe('CAPSTAN_ERR_CHART_TEMPLATE');
    expect(d.file).toBe('charts/fileread/templates/a.yaml');
  });
});

describe('values are data, never templates', () => {
  it('template syntax in a value is written out literally', async () => {
    const { root: r3, cleanup: c3 } = await makeRepoDir(
      chartFiles('c', { 'cm.yaml': 'kind: ConfigMap\ndata:\n  text: {{ values.text | quote }}\n  raw: {{ values.raw | quote }}\n  secret: {{ values.secret | quote }}\n  yaml: {{ values.nested | toYaml | nindent: 4 }}\n' }, {
        'values.yaml': 'secret: hunter2\n',
      }),
    );
    try {
      const chart = await loadChart('c', folderRepo(r3));
      const r = await renderChart(chart, {
        release,
        values: { text: '{{ values.secret }}', raw: '{% raw %}{{ values.secret }}{% endraw %}', nested: { k: '{% for i in (1..9) %}x{% endfor %}' } },
      });
      expect(r.diagnostics).toEqual([]);
      const out = r.files[0].content;
      expect(out).toContain('text: "{{ values.secret }}"');
      expect(out).toContain('raw: "{% raw %}{{ values.secret }}{% endraw %}"');
      expect(out).toContain('k: "{% for i in (1..9) %}x{% endfor %}"');
      expect(out.match(/hunter2/g)).toHaveLength(1);
      // --set values are data too.
      const s = await renderChart(chart, { release, set: ['text=\\{\\{ values.secret \\}\\}'] });
      expect(s.files[0].content).toContain('text: "{{ values.secret }}"');
    } finally {
      await c3();
    }
  });
});
