// `capstan chart ...` definitions. The implementations (templating, ajv) load only when a
// chart command runs, so `capstan --help` stays fast.
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import type { TemplateOptions } from './chart.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `capstan chart template` and `capstan chart lint`. */
export function registerChartCommands(program: Command, io: CliIO): void {
  const chart = program.command('chart').description('render and check helm-like charts');

  chart
    .command('template')
    .description('render a chart and print the objects as multi-document YAML')
    .argument('<chart>', 'the chart folder (holding Chart.yaml)')
    .option('-f, --values <file>', 'a values file; repeat for more, later files win', collect, [])
    .option('--set <key=value>', 'set values: a.b=c,list[0]=x,list={a,b}; repeatable', collect, [])
    .option('--set-string <key=value>', 'like --set, but every value stays a string', collect, [])
    .option('--release-name <name>', 'the release name templates see as release.name', 'release-name')
    .option('-n, --namespace <ns>', 'the namespace templates see as release.namespace', 'default')
    .option('--notes', "print the chart's NOTES.txt on stderr after the objects")
    .addHelpText(
      'after',
      `
Values are merged: the chart's values.yaml < -f files (in order) < --set / --set-string,
then checked against values.schema.json. Exit codes: 0 rendered, 1 error.

Examples:
  $ capstan chart template helm-like-charts/web-service --set image.repository=nginx --set image.tag=1.27
  $ capstan chart template helm-like-charts/cron-task -f prod-values.yaml --release-name nightly -n batch`,
    )
    .action(async (chartPath: string, opts: TemplateOptions) => (await import('./chart.js')).runChartTemplate(io, chartPath, opts));

  chart
    .command('lint')
    .description('check Chart.yaml, the values schema, and that templates render to valid YAML')
    .argument('<chart>', 'the chart folder (holding Chart.yaml)')
    .addHelpText('after', '\nExit codes: 0 no errors (warnings allowed), 1 errors.\n\nExample:\n  $ capstan chart lint helm-like-charts/web-service')
    .action(async (chartPath: string) => (await import('./chart.js')).runChartLint(io, chartPath));
}
