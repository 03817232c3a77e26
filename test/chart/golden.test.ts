import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { formatRendered } from '../../src/cli/commands/chart.js';
import { folderRepo, lintChart, loadChart, renderChart, type RenderChartOptions } from '../../src/render/chart/index.js';

// Golden files: the exact output of the shipped charts under several value sets.
// Run with UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const goldenDir = fileURLToPath(new URL('./golden', import.meta.url));
const repo = folderRepo(repoRoot);
const update = process.env.UPDATE_GOLDEN === '1';

interface Case {
  name: string;
  chart: string;
  options: Omit<RenderChartOptions, 'release'> & { release?: RenderChartOptions['release'] };
}

const cases: Case[] = [
  { name: 'web-service-defaults', chart: 'helm-like-charts/web-service', options: {} },
  {
    name: 'web-service-canary',
    chart: 'helm-like-charts/web-service',
    options: {
      release: { name: 'shop', namespace: 'prod' },
      valuesFiles: ['test/chart/fixtures/web-canary-values.yaml'],
      set: ['replicas=5', 'image.tag=2.4.1'],
    },
  },
  {
    name: 'web-service-bluegreen',
    chart: 'helm-like-charts/web-service',
    options: {
      release: { name: 'api', namespace: 'staging' },
      values: {
        fullnameOverride: 'orders-api',
        image: { repository: 'registry.local/orders', tag: 'v7' },
        port: 9000,
        strategy: { type: 'BlueGreen', blueGreen: { autoPromotionEnabled: true, autoPromotionSeconds: 120, scaleDownDelaySeconds: 60 } },
        probes: { enabled: false },
        resources: null,
        config: null,
        service: { type: 'NodePort', port: 9000 },
        podAnnotations: { 'prometheus.io/scrape': 'true' },
      },
    },
  },
  {
    name: 'web-service-recreate',
    chart: 'helm-like-charts/web-service',
    options: {
      release: { name: 'web-service', namespace: 'default' },
      set: ['strategy.type=Recreate', 'replicas=1', 'probes.path=/ready', 'env.GREETING=hello\\, world', 'args={--listen,all}'],
      setString: ['env.RETRIES=3'],
    },
  },
  { name: 'cron-task-defaults', chart: 'helm-like-charts/cron-task', options: {} },
  {
    name: 'cron-task-nightly',
    chart: 'helm-like-charts/cron-task',
    options: {
      release: { name: 'nightly-report', namespace: 'batch' },
      values: {
        schedule: '30 2 * * 1-5',
        timeZone: 'Europe/Paris',
        image: { repository: 'registry.local/reports', tag: '2024.06' },
        command: ['/app/report'],
        args: ['--since', '24h'],
        env: { OUTPUT: 's3://reports', VERBOSE: true },
        podLabels: { team: 'data' },
        podAnnotations: { 'capstan.dev/owner': 'data-team' },
        activeDeadlineSeconds: 3600,
        startingDeadlineSeconds: 300,
      },
    },
  },
  {
    name: 'cron-task-hourly',
    chart: 'helm-like-charts/cron-task',
    options: {
      release: { name: 'cleanup', namespace: 'ops' },
      set: ['schedule=@hourly', 'concurrencyPolicy=Replace', 'suspend=true', 'resources=null', 'nameOverride=sweeper', 'restartPolicy=Never', 'backoffLimit=0'],
    },
  },
];

async function render(c: Case): Promise<string> {
  const chart = await loadChart(c.chart, repo);
  const result = await renderChart(chart, { release: { name: 'release-name', namespace: 'default' }, ...c.options });
  expect(result.diagnostics).toEqual([]);
  let out = result.files.map((f) => formatRendered(f.path, f.content)).join('');
  if (result.notes) out += `# NOTES.txt\n${result.notes.trim().replace(/^/gm, '# ')}\n`;
  return out;
}

describe('shipped charts match their golden files', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const got = await render(c);
      // Every rendered document is a mapping with the labels Capstan relies on.
      for (const doc of parseAllDocuments(got) as ReturnType<typeof parseAllDocuments> & unknown[]) {
        expect(doc.errors).toEqual([]);
        const obj = doc.toJS() as { metadata: { labels: Record<string, string> } };
        expect(obj.metadata.labels['app.kubernetes.io/managed-by']).toBe('capstan');
        expect(obj.metadata.labels['app.kubernetes.io/instance']).toBe(c.options.release?.name ?? 'release-name');
      }
      const file = join(goldenDir, `${c.name}.yaml`);
      if (update) await writeFile(file, got);
      const want = await readFile(file, 'utf8');
      expect(got).toBe(want);
    });
  }

  it('lints both shipped charts without errors or warnings', async () => {
    expect(await lintChart('helm-like-charts/web-service', repo)).toEqual([]);
    expect(await lintChart('helm-like-charts/cron-task', repo)).toEqual([]);
  });
});
