import { resolve } from 'node:path';
import type { SourcedObject } from '../../api/types.js';
import { CapstanError, type Diagnostic } from '../../common/errors.js';
import { computePlan, dryRunScheduling, renderMarkdown, renderText, withScheduling, type Plan } from '../../plan/index.js';
import type { NodeInfo, Pod } from '../../api/cluster.js';
import { loadDesiredFrom } from '../../render/index.js';
import { openSource } from '../../source/index.js';
import type { SourceAuth } from '../../source/types.js';
import { EXIT_FAILURE, ExitRequest, type CliIO } from '../io.js';

interface PlanOptions {
  ref?: string;
  base?: string;
  server?: string;
  token?: string;
  dataDir: string;
  path?: string[];
  detailedExitcode?: boolean;
  gitTimeout?: number;
  maxReplicas?: number;
  allowUnknownFields?: boolean;
  output: 'text' | 'json' | 'markdown';
}

/** Credentials for remotes from the environment the CLI was started with. */
function gitAuthFromEnv(env: NodeJS.ProcessEnv): SourceAuth | undefined {
  const auth: SourceAuth = {};
  if (env.CAPSTAN_GIT_USERNAME) auth.username = env.CAPSTAN_GIT_USERNAME;
  if (env.CAPSTAN_GIT_PASSWORD) auth.password = env.CAPSTAN_GIT_PASSWORD;
  if (env.CAPSTAN_GIT_TOKEN) auth.token = env.CAPSTAN_GIT_TOKEN;
  return Object.keys(auth).length > 0 ? auth : undefined;
}

function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

export async function runPlan(io: CliIO, location: string, opts: PlanOptions): Promise<void> {
  if (opts.base && opts.server) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--base and --server compare against different things: give one of them');
  }
  const where = isUrl(location) ? location : resolve(io.cwd, location);
  const source = await openSource(where, {
    dataDir: resolve(io.cwd, opts.dataDir),
    paths: opts.path,
    auth: gitAuthFromEnv(io.env),
    timeoutMs: opts.gitTimeout !== undefined ? opts.gitTimeout * 1000 : Number(io.env.CAPSTAN_GIT_TIMEOUT_MS) || undefined,
  });
  const admission = opts.maxReplicas !== undefined ? { maxReplicas: opts.maxReplicas } : {};
  const allow = opts.allowUnknownFields ? { allowUnknownFields: true } : {};
  const head = await loadDesiredFrom(source, { ref: opts.ref, admission, ...allow });

  let current: SourcedObject[] = [];
  let live: { nodes: NodeInfo[]; pods: Pod[] } | undefined;
  let base: Plan['base'] = { kind: 'empty' };
  const warnings: Diagnostic[] = [...head.warnings];
  if (opts.base) {
    const before = await loadDesiredFrom(source, { ref: opts.base, admission, ...allow });
    current = before.objects;
    base = { kind: 'ref', location: before.snapshot.location, ref: opts.base, commit: before.snapshot.commit ?? null };
    if (before.errors.length > 0) {
      warnings.push({
        severity: 'warning',
        code: 'CAPSTAN_ERR_PLAN_FAILED',
        file: before.errors[0]!.file,
        line: before.errors[0]!.line,
        message: `the base ${opts.base} itself has ${before.errors.length} error(s); its valid objects were compared`,
      });
    }
  } else if (opts.server) {
    // Loaded only here: the API client brings the TLS and HTTP client modules, which a plan
    // against nothing or another ref does not need at startup.
    const [{ connect }, { fetchLiveObjects }] = await Promise.all([import('../api-client.js'), import('../client.js')]);
    const api = connect(io, { server: opts.server, token: opts.token, dataDir: opts.dataDir });
    const [objects, nodes, pods] = await Promise.all([
      fetchLiveObjects(api),
      api.get<{ items?: NodeInfo[] }>('/api/v1/nodes'),
      api.get<{ items?: Pod[] }>('/api/v1/pods'),
    ]);
    current = objects;
    live = { nodes: nodes.items ?? [], pods: pods.items ?? [] };
    base = { kind: 'server', url: api.server };
  }

  const computed = computePlan({
    // The contract's JSON always carries ref and commit: null for a plain folder.
    source: { location: head.snapshot.location, ref: head.snapshot.ref ?? null, commit: head.snapshot.commit ?? null },
    desired: head.objects,
    errors: head.errors,
    warnings,
    base,
    current,
  });
  // Against live state: would the workloads' pods fit on the nodes as they are now?
  const plan: Plan = live ? { ...computed, changes: withScheduling(computed.changes, dryRunScheduling({ changes: computed.changes, desired: head.objects, ...live })) } : computed;

  if (opts.output === 'json') io.out(`${JSON.stringify(plan, null, 2)}\n`);
  else if (opts.output === 'markdown') io.out(renderMarkdown(plan));
  else io.out(renderText(plan, { color: io.color }));

  if (plan.errors.length > 0) throw new ExitRequest(EXIT_FAILURE);
  if (opts.detailedExitcode && plan.changes.length > 0) throw new ExitRequest(2);
}
