// The service router: per Service port, a listener that splits traffic between revisions by
// exact weight and header routes, and measures each revision's requests, errors and latency.
export { Router } from './router.js';
export type { RouterEvent, RouterOptions, ServiceView } from './router.js';
export { IngressTable, hostMatches, pickByServerName, prefixMatches, requestHost, tlsBindings } from './ingress.js';
export type { IngressTarget, TlsBinding } from './ingress.js';
export { allocateNodePorts } from './nodeports.js';
export {
  buildTables,
  compileRoutes,
  cookieValue,
  hostPortFor,
  pickWeights,
  podServes,
  portProtocol,
  toPercent,
  Picker,
} from './table.js';
export type { CompiledMatch, CompiledRoute, Endpoint, PortProtocol, PortTable, RequestHeaders, RouterService } from './table.js';
export { RouterMetrics, LATENCY_BUCKETS, statsOfBuckets } from './metrics.js';
export type { Observation, RouterMetricsOptions, WindowBucket, WindowSeries, WindowStats } from './metrics.js';
export { mergeWindows, mergedRevisions, mergedStats, shiftSeries } from './merge.js';
export { BackendPool } from './pool.js';
export type { BackendPoolOptions, Lease } from './pool.js';
export { HttpListener, TcpListener, createListener, stripHopByHop } from './proxy.js';
export type { Listener, ListenerOptions } from './proxy.js';
export type { WorkerCommand } from './workers.js';
