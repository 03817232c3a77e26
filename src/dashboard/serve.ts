// The dashboard's routes on the API server: the page and its static files at `/` and
// `/dashboard/…` (public: they hold no data), `GET /api/v1/whoami` (any token: its user and
// role, so the page shows the buttons the role may use), and two read-only views built
// from the API's resources: `GET /api/v1/dashboard` (sources and applications) and
// `GET /api/v1/dashboard/{namespace}/{name}[?kind=…]` (one workload's rollout and history),
// and `GET /api/v1/dashboard/commits/{commit}` (what a sync applied for that commit).
// Live updates come from the API's own watches; the page re-reads these views on each event.
import type { HistoryEntry, Pod, Revision } from '../api/cluster.js';
import { ANALYSIS_RUNS_PREFIX } from '../analysis/index.js';
import type { RawAnalysisRuns, RawService } from '../cli/status-view.js';
import { apiError } from '../server/http.js';
import type { Resource } from '../server/resources.js';
import { resources } from '../server/resources.js';
import type { Route } from '../server/routes.js';
import type { KV } from '../store/index.js';
import type { SyncState } from '../sync/index.js';
import { readCommitPlan } from './commits.js';
import { loadSite, serveFile, type StaticSite } from './static.js';
import { buildOverview, buildWorkloadPage } from './views.js';

const WORKLOAD_RESOURCES: Record<string, string> = { Deployment: 'deployments', Rollout: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };

export interface DashboardOptions {
  kv: KV;
  /** Where the page's files are (tests); the assets folder beside this module by default. */
  assetsDir?: string;
}

export function dashboardRoutes(options: DashboardOptions): Route[] {
  const { kv } = options;
  const byName = resources();
  let site: Promise<StaticSite> | undefined;
  const loaded = (): Promise<StaticSite> => {
    site ??= loadSite(options.assetsDir).catch((err: unknown) => {
      site = undefined; // try again on the next request
      throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `the dashboard's files are not installed (${(err as Error).message})`);
    });
    return site;
  };

  const resource = (name: string): Resource => byName.get(name)!;
  async function list<T>(name: string, revision: number, namespace?: string): Promise<T[]> {
    return (await resource(name).list(kv, revision, namespace)) as T[];
  }

  const staticRoute = (pattern: string): Route => ({
    method: 'GET',
    pattern,
    access: 'public',
    handler: async ({ req, res, rest }) => {
      const path = pattern === '/' ? '/' : `/dashboard/${rest.join('/')}`;
      if (!serveFile(await loaded(), path, req, res)) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no dashboard file ${JSON.stringify(path)}`);
      return undefined;
    },
  });

  return [
    staticRoute('/'),
    staticRoute('/dashboard/*'),
    {
      method: 'GET',
      pattern: '/api/v1/whoami',
      access: 'any',
      handler: async ({ principal }) => ({ user: principal!.user, role: principal!.role, ...(principal!.node !== undefined ? { node: principal!.node } : {}) }),
    },
    {
      method: 'GET',
      pattern: '/api/v1/dashboard',
      access: 'read',
      handler: async ({ query }) => {
        const revision = await kv.revision();
        const ns = query.get('namespace') ?? undefined;
        const [sources, ...workloads] = await Promise.all([
          list<SyncState>('sources', revision),
          list<Parameters<typeof buildOverview>[0]['workloads'][number]>('deployments', revision, ns),
          list<Parameters<typeof buildOverview>[0]['workloads'][number]>('statefulsets', revision, ns),
          list<Parameters<typeof buildOverview>[0]['workloads'][number]>('daemonsets', revision, ns),
        ]);
        return { resourceVersion: revision, ...buildOverview({ sources, workloads: workloads.flat() }) };
      },
    },
    // Before the workload route, which would take `commits` for a namespace.
    {
      method: 'GET',
      pattern: '/api/v1/dashboard/commits/:commit',
      access: 'read',
      handler: async ({ params, query }) => readCommitPlan(kv, params.commit!, query.get('source') ?? undefined),
    },
    {
      method: 'GET',
      pattern: '/api/v1/dashboard/:namespace/:name',
      access: 'read',
      handler: async ({ params, query }) => {
        const ns = params.namespace!;
        const name = params.name!;
        const kind = query.get('kind') ?? undefined;
        const names = kind !== undefined ? [WORKLOAD_RESOURCES[kind]] : ['deployments', 'statefulsets', 'daemonsets'];
        if (names[0] === undefined) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `kind must be one of ${Object.keys(WORKLOAD_RESOURCES).join(', ')}`);
        const revision = await kv.revision();
        let raw: Parameters<typeof buildWorkloadPage>[0]['raw'] | undefined;
        for (const r of names as string[]) {
          const found = (await resource(r).get(kv, [ns, name])) as typeof raw;
          if (found && (kind === undefined || found.kind === kind)) {
            raw = found;
            break;
          }
        }
        if (!raw) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no workload ${ns}/${name}${kind ? ` of kind ${kind}` : ''}`);
        const analysisKey = `${ANALYSIS_RUNS_PREFIX}${raw.kind ?? 'Deployment'}/${ns}/${name}`;
        const [revisions, pods, services, history, sources, analysisKv] = await Promise.all([
          list<Revision>('revisions', revision, ns),
          list<Pod>('pods', revision, ns),
          list<RawService>('services', revision, ns),
          list<HistoryEntry>('history', revision, ns),
          list<SyncState>('sources', revision),
          kv.get(analysisKey),
        ]);
        let analysis: RawAnalysisRuns | undefined;
        try {
          analysis = analysisKv ? (JSON.parse(Buffer.from(analysisKv.value).toString('utf8')) as RawAnalysisRuns) : undefined;
        } catch {
          analysis = undefined;
        }
        return { resourceVersion: revision, ...buildWorkloadPage({ raw, revisions, pods, services, history, sources, ...(analysis ? { analysis } : {}) }) };
      },
    },
  ];
}
