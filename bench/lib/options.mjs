// Command-line options shared by the benchmarks. Each benchmark describes its options once:
//   const o = parseOptions('bench/plan.mjs', 'Plan benchmark: ...', {
//     manifests: { type: 'number', default: 10_000, help: 'manifests in the repository' },
//     quick: { type: 'flag', help: 'smaller sizes' },
//   });
// and reads o.manifests, o.quick (names with dashes become camelCase: --quiet-seconds →
// o.quietSeconds). `--name value` and `--name=value` both work. `--help` prints the usage and
// exits 0; a value that is missing or not a number exits 2 naming the option; an option the
// benchmark does not know is reported on stderr and ignored, since run.mjs hands the same
// arguments after `--` to every benchmark.

/** @typedef {{ type: 'number' | 'string' | 'flag', default?: unknown, help: string, hidden?: boolean }} OptionSpec */

const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** The usage text: the description, then one line per option that is not hidden. */
export function usageText(script, description, spec, usageArgs = '') {
  const rows = Object.entries(spec)
    .filter(([, s]) => !s.hidden)
    .map(([name, s]) => {
      const left = `--${name}${s.type === 'flag' ? '' : s.type === 'number' ? ' N' : ' VALUE'}`;
      const dflt = s.default === undefined || s.default === '' || s.type === 'flag' ? '' : ` (default ${s.default})`;
      return [left, `${s.help}${dflt}`];
    });
  rows.push(['--help', 'print this text']);
  const width = Math.max(...rows.map(([l]) => l.length));
  return [`usage: node ${script} [options]${usageArgs}`, description, '', ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`)].join('\n');
}

/**
 * Parses `argv` against `spec`. With `positional`, arguments that are not options are kept in
 * `_` (in order); otherwise they are reported and ignored. `usageArgs` follows `[options]` in
 * the usage line. Pure apart from `exit`, `out` and `warn`, which tests may replace.
 * @param {string} script
 * @param {string} description
 * @param {Record<string, OptionSpec>} spec
 */
export function parseOptions(
  script,
  description,
  spec,
  { argv = process.argv.slice(2), positional = false, usageArgs = '', exit = process.exit, out = console.log, warn = console.error } = {},
) {
  const values = { _: [] };
  for (const [name, s] of Object.entries(spec)) values[camel(name)] = s.type === 'flag' ? Boolean(s.default) : s.default;
  const fail = (message) => {
    warn(`${script}: ${message}\n\n${usageText(script, description, spec, usageArgs)}`);
    return exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      out(usageText(script, description, spec, usageArgs));
      return exit(0);
    }
    if (!arg.startsWith('--')) {
      if (positional) {
        values._.push(arg);
        continue;
      }
      warn(`${script}: ignoring the argument ${arg} (options start with --; see --help)`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const s = spec[name];
    if (!s) {
      warn(`${script}: ignoring --${name}, which this benchmark does not take (see --help)`);
      if (eq < 0 && i + 1 < argv.length && !argv[i + 1].startsWith('--')) i++;
      continue;
    }
    if (s.type === 'flag') {
      if (eq >= 0) return fail(`--${name} takes no value`);
      values[camel(name)] = true;
      continue;
    }
    // The next argument is the value even when it starts with dashes (node arguments).
    let raw;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (i + 1 < argv.length) raw = argv[++i];
    if (raw === undefined || raw === '') return fail(`--${name} needs a value`);
    if (s.type === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0) return fail(`--${name} needs a number of 0 or more, not "${raw}"`);
      values[camel(name)] = n;
    } else values[camel(name)] = raw;
  }
  return values;
}
