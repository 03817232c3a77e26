import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CapstanError, formatDiagnostic } from '../common/errors.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ExitRequest, processIO, type CliIO } from './io.js';
import { VERSION } from './version.js';
import { registerChartCommands } from './commands/chart-command.js';

// Command implementations are imported when a command runs, so `capstan --help` stays fast.

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number, got "${value}"`);
  return n;
}

function outputOption(choices: string[], fallback = 'text'): Option {
  return new Option('-o, --output <format>', 'output format').choices(choices).default(fallback);
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('capstan');
  program
    .description('GitOps control plane for containers on plain Docker hosts')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--debug', 'print stack traces for errors')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();

  program
    .command('validate')
    .description('check manifests and charts; every problem on stderr as file:line:col: message')
    .argument('<paths...>', 'files or folders of manifests (a Git work tree is read as it is on disk)')
    .option('--strict', 'treat warnings as errors')
    .addOption(outputOption(['text', 'json']))
    .addHelpText(
      'after',
      `
Exit codes: 0 valid, 1 invalid.

Examples:
  $ capstan validate examples-repo
  $ capstan validate apps/web.yaml apps/api.yaml
  $ capstan validate --strict -o json manifests/`,
    )
    .action(async (paths: string[], opts) => {
      const { runValidate } = await import('./commands/validate.js');
      return runValidate(io, paths, opts);
    });

  program
    .command('plan')
    .description('show what SOURCE at REF would change: against nothing, another ref, or live state')
    .argument('[source]', 'a folder, a local Git repository, or an http(s) Git URL', 'examples-repo')
    .option('--ref <ref>', 'branch, tag or commit to plan (Git sources; default HEAD)')
    .option('--base <ref>', 'compare with the same source at this ref (pull-request review)')
    .option('--server <url>', 'compare with live state on a Capstan server')
    .option('--token <token>', 'API token for --server (env CAPSTAN_TOKEN)')
    .option('--data-dir <dir>', 'where remote repositories are cached', '.capstan')
    .option('--path <dir...>', 'only read manifests under these folders of the source')
    .option('--git-timeout <seconds>', 'give up on a remote that does not answer (default 30)', (v) => positiveNumber(v, '--git-timeout'))
    .option('--detailed-exitcode', 'exit 0 when nothing changes, 1 on error, 2 when there are changes')
    .addOption(outputOption(['text', 'json', 'markdown']))
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 invalid manifests or error; with --detailed-exitcode 0 no changes,
1 error, 2 changes.

Examples:
  $ capstan plan examples-repo
  $ capstan plan . --base main --ref feature -o markdown     # pull-request review
  $ capstan plan https://git.example.com/team/deploy.git --ref main -o json`,
    )
    .action(async (source: string, opts) => {
      const { runPlan } = await import('./commands/plan.js');
      return runPlan(io, source, opts);
    });

  registerChartCommands(program, io);
  return program;
}

function printError(io: CliIO, err: unknown, debug: boolean): void {
  if (err instanceof CapstanError) {
    const d = err.toDiagnostic('');
    io.err(d.file ? `${formatDiagnostic(d)}\n` : `capstan: ${err.message} [${err.code}]\n`);
  } else {
    io.err(`capstan: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  if (debug && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ExitRequest) return err.exitCode;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof CapstanError && err.code === 'CAPSTAN_ERR_CLI_USAGE') {
      printError(io, err, debug);
      return EXIT_USAGE;
    }
    printError(io, err, debug);
    return EXIT_FAILURE;
  }
}
