import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { findDuplicateObjects } from '../../api/index.js';
import type { SourcedObject } from '../../api/types.js';
import { CapstanError, formatDiagnostic, type Diagnostic } from '../../common/errors.js';
import { folderRepo, lintChart } from '../../render/chart/index.js';
import { allowUnknownFields, loadDesired, loadFile } from '../../render/index.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';

interface ValidateOptions {
  strict?: boolean;
  maxReplicas?: number;
  allowUnknownFields?: boolean;
  output: 'text' | 'json';
}

interface Found {
  objects: SourcedObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Problems in one file or folder, with paths shown relative to where the user is. */
async function examine(io: CliIO, path: string, opts: ValidateOptions): Promise<Found> {
  const abs = resolve(io.cwd, path);
  const info = await stat(abs).catch(() => undefined);
  if (!info) throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `${path}: no such file or folder`);
  const shown = (file: string) => relative(io.cwd, resolve(abs, file)) || file;
  if (info.isDirectory()) {
    if (existsSync(join(abs, 'Chart.yaml'))) return lintOne(io, dirname(abs), basename(abs));
    const state = await loadDesired(abs, { checkDuplicates: false, ...(opts.maxReplicas !== undefined ? { admission: { maxReplicas: opts.maxReplicas } } : {}) });
    const fix = (d: Diagnostic): Diagnostic => ({ ...d, file: shown(d.file) });
    const objects = state.objects.map((o) => ({ ...o, source: { ...o.source, file: shown(o.source.file) } }));
    const found: Found = { objects, errors: state.errors.map(fix), warnings: state.warnings.map(fix) };
    // Charts inside the folder are checked too, with their default values.
    for (const chart of state.charts) {
      const linted = await lintOne(io, abs, chart);
      found.errors.push(...linted.errors);
      found.warnings.push(...linted.warnings);
    }
    return found;
  }
  const content = await readFile(abs);
  return loadFile({ path: relative(io.cwd, abs) || abs, content });
}

async function lintOne(io: CliIO, root: string, chartDir: string): Promise<Found> {
  const diagnostics = await lintChart(chartDir === '' ? '.' : chartDir, folderRepo(root));
  const fix = (d: Diagnostic): Diagnostic => ({ ...d, file: relative(io.cwd, resolve(root, d.file)) || d.file });
  return {
    objects: [],
    errors: diagnostics.filter((d) => d.severity === 'error').map(fix),
    warnings: diagnostics.filter((d) => d.severity === 'warning').map(fix),
  };
}

export async function runValidate(io: CliIO, paths: string[], opts: ValidateOptions): Promise<void> {
  const all: Found = { objects: [], errors: [], warnings: [] };
  for (const p of paths) {
    const r = await examine(io, p, opts);
    all.objects.push(...r.objects);
    all.errors.push(...r.errors);
    all.warnings.push(...r.warnings);
  }
  all.errors.push(...findDuplicateObjects(all.objects));
  if (opts.allowUnknownFields) allowUnknownFields(all.errors, all.warnings);
  const failed = all.errors.length > 0 || (opts.strict === true && all.warnings.length > 0);
  if (opts.output === 'json') {
    io.out(`${JSON.stringify({ valid: !failed, objects: all.objects.length, errors: all.errors, warnings: all.warnings }, null, 2)}\n`);
  } else {
    for (const d of [...all.errors, ...all.warnings]) io.err(`${formatDiagnostic(d)}\n`);
    const summary = `${all.objects.length} object(s), ${all.errors.length} error(s), ${all.warnings.length} warning(s)`;
    if (failed) io.err(`invalid: ${summary}\n`);
    else io.out(`valid: ${summary}\n`);
  }
  if (failed) throw new ExitRequest(EXIT_FAILURE);
}
