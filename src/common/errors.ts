// The one error catalog. Every failure Capstan reports carries a stable code from this list,
// so scripts can match on it and docs/errors.md can list exactly what exists
// (test/common/errors.test.ts keeps the two in step).

export const ERROR_CODES = {
  // usage and configuration
  CAPSTAN_ERR_CLI_USAGE: 'the command line is not valid',
  CAPSTAN_ERR_CONFIG_INVALID: 'a configuration value is not valid',

  // source: reading Git and folders
  CAPSTAN_ERR_SOURCE_NOT_FOUND: 'the source path or repository does not exist',
  CAPSTAN_ERR_SOURCE_REF_NOT_FOUND: 'the ref does not exist in the repository',
  CAPSTAN_ERR_SOURCE_UNREACHABLE: 'the remote repository could not be reached',
  CAPSTAN_ERR_SOURCE_AUTH: 'the remote refused the credentials',
  CAPSTAN_ERR_SOURCE_TIMEOUT: 'the remote did not answer in time',
  CAPSTAN_ERR_SOURCE_PATH_ESCAPE: 'a path or symlink leads outside the repository',
  CAPSTAN_ERR_SOURCE_TOO_LARGE: 'a file, or the set of files, is over the configured limit',
  CAPSTAN_ERR_SOURCE_BINARY: 'a manifest file is binary or not UTF-8',
  CAPSTAN_ERR_SOURCE_GIT: 'Git reported an error',
  CAPSTAN_ERR_SOURCE_WEBHOOK_SIGNATURE: 'the webhook signature or token does not match the configured secret',
  CAPSTAN_ERR_SOURCE_GIT_MISSING: 'the git program is not installed, and serving a repository over HTTP needs it',
  CAPSTAN_ERR_SOURCE_READ_ONLY: 'the source cannot be written (a rollback commit needs a writable repository)',
  CAPSTAN_ERR_SOURCE_RESOURCE_EXHAUSTED: 'reading the source ran out of a system resource (file descriptors or memory)',
  CAPSTAN_ERR_SOURCE_PUSH_TOO_LARGE: 'a push to the served repository is over --max-push-size',

  // render: YAML, JSON and charts
  CAPSTAN_ERR_RENDER_SYNTAX: 'the file is not valid YAML or JSON',
  CAPSTAN_ERR_RENDER_DUPLICATE_KEY: 'a mapping has the same key twice',
  CAPSTAN_ERR_RENDER_ALIAS_LIMIT: 'YAML aliases expand beyond the limit (alias bomb)',
  CAPSTAN_ERR_RENDER_TOO_DEEP: 'the document nests deeper than the limit',
  CAPSTAN_ERR_RENDER_NOT_OBJECT: 'a document is not a mapping',
  CAPSTAN_ERR_RENDER_EMPTY: 'the file holds no objects',
  CAPSTAN_ERR_RENDER_DUPLICATE_OBJECT: 'the same kind/namespace/name is defined twice',
  CAPSTAN_ERR_CHART_NOT_FOUND: 'the chart does not exist',
  CAPSTAN_ERR_CHART_INVALID: 'Chart.yaml is not valid',
  CAPSTAN_ERR_CHART_VALUES: 'the values do not match values.schema.json',
  CAPSTAN_ERR_CHART_TEMPLATE: 'a template could not be parsed or rendered',
  CAPSTAN_ERR_CHART_LIMIT: 'rendering went over its time or output limit',
  CAPSTAN_ERR_CHART_CYCLE: 'chart dependencies form a cycle',
  CAPSTAN_ERR_KUSTOMIZE_INVALID: 'a kustomization file has a field of the wrong type or value, or one Capstan does not implement (warning)',
  CAPSTAN_ERR_KUSTOMIZE_RESOURCE: 'a kustomization names a resource, base, component, patch or generator file that does not exist, leaves the repository, or is remote',
  CAPSTAN_ERR_KUSTOMIZE_PATCH: 'a kustomization patch is not valid or its target is not found',
  CAPSTAN_ERR_KUSTOMIZE_CYCLE: 'kustomizations refer to each other in a cycle',

  // api: object model
  CAPSTAN_ERR_API_UNKNOWN_KIND: 'the apiVersion/kind is not one Capstan accepts',
  CAPSTAN_ERR_API_SCHEMA: 'a field has the wrong type or value',
  CAPSTAN_ERR_API_UNKNOWN_FIELD: 'a field under spec that no Kubernetes or Argo Rollouts object has (a typo): the commit is refused unless --allow-unknown-fields',
  CAPSTAN_ERR_API_REQUIRED: 'a required field is missing',
  CAPSTAN_ERR_API_NAME: 'a name is not a valid RFC 1123 name',
  CAPSTAN_ERR_API_SELECTOR: "the selector does not match the template's labels",
  CAPSTAN_ERR_API_REFERENCE: 'an object refers to another that does not exist',
  CAPSTAN_ERR_API_LIMIT: 'a workload asks for more pods than --max-replicas allows',
  CAPSTAN_ERR_API_QUOTA: "the commit goes over a namespace's ResourceQuota",
  CAPSTAN_ERR_API_NODE_PORT_CONFLICT: 'two Service ports ask for the same nodePort',
  CAPSTAN_ERR_API_IMMUTABLE: 'a commit changes the data of an immutable ConfigMap or Secret, or the template, completions or completionMode of a Job (rename it to change it)',
  CAPSTAN_ERR_API_NOT_AN_OBJECT: 'a YAML or JSON document has no apiVersion, kind or metadata: it is skipped with a warning',

  // server: HTTP API, auth; controllers
  CAPSTAN_ERR_API_BAD_REQUEST: 'the request is not valid: bad JSON, path or query parameter',
  CAPSTAN_ERR_API_NOT_FOUND: 'the object or route does not exist',
  CAPSTAN_ERR_API_METHOD_NOT_ALLOWED: 'the route does not accept this HTTP method',
  CAPSTAN_ERR_API_BODY_TOO_LARGE: 'the request body is over the server limit',
  CAPSTAN_ERR_API_UNSUPPORTED_MEDIA_TYPE: 'the request body is not application/json',
  CAPSTAN_ERR_API_CONFLICT: 'the object changed while it was being written; try again',
  CAPSTAN_ERR_API_NOT_IMPLEMENTED: 'this server has no handler for the endpoint',
  CAPSTAN_ERR_API_GONE: 'the resourceVersion was compacted; list again and watch from the new resourceVersion',
  CAPSTAN_ERR_API_POD_NOT_BOUND: 'the pod is not bound to a node yet, so it has no logs and nothing to exec in',
  CAPSTAN_ERR_API_CONTAINER_NAME: 'the pod has several containers and none was named (pass -c), or the named container is not in the pod',
  CAPSTAN_ERR_API_NODE_UNREACHABLE: "the node agent that runs the pod did not answer for logs or exec (down, or it reported no address)",
  CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED: 'the API server ran out of file descriptors accepting connections, or refused one over its connection limits',
  CAPSTAN_ERR_AUTH_MISSING_TOKEN: 'the request has no bearer token',
  CAPSTAN_ERR_AUTH_INVALID_TOKEN: 'the bearer token is not known',
  CAPSTAN_ERR_AUTH_FORBIDDEN: "the token's role does not allow this request",
  CAPSTAN_ERR_CONTROLLER_NOT_LEADER: 'this instance does not hold (or lost) controller leadership',

  // plan
  CAPSTAN_ERR_PLAN_FAILED: 'the plan could not be computed',
  CAPSTAN_ERR_PLAN_NOT_COMPARED: 'an object of a file that has errors was not compared: the plan cannot tell whether it changes or goes',

  // store
  CAPSTAN_ERR_STORE_TOO_LARGE: 'the request is over the 1.5 MiB limit',
  CAPSTAN_ERR_STORE_INVALID_KEY: 'the key is empty or not valid UTF-8',
  CAPSTAN_ERR_STORE_COMPACTED: 'the requested revision has been compacted',
  CAPSTAN_ERR_STORE_FUTURE_REVISION: 'the requested revision is newer than the store',
  CAPSTAN_ERR_STORE_LEASE_NOT_FOUND: 'the lease does not exist or has expired',
  CAPSTAN_ERR_STORE_CORRUPT: 'the write-ahead log or a snapshot is corrupt',
  CAPSTAN_ERR_STORE_NO_SPACE: 'the disk is full: writes are refused, reads still work',
  CAPSTAN_ERR_STORE_CLOSED: 'the store is closed',
  CAPSTAN_ERR_STORE_UNAVAILABLE: 'the store backend could not be reached',
  CAPSTAN_ERR_STORE_NOT_LEADER: 'this member is not the leader',
  CAPSTAN_ERR_STORE_CLUSTER_MISMATCH: 'a member of another Raft cluster (different cluster id) was refused',
  CAPSTAN_ERR_STORE_WATCH_OVERFLOW: 'a watcher fell too far behind and was ended; watch again from its last revision',
  CAPSTAN_ERR_STORE_AUTH: 'the store backend refused the credentials',

  CAPSTAN_ERR_SCHEDULER_UNKNOWN_NODE: "the node is not in the scheduler's cluster view",
  CAPSTAN_ERR_ROUTER_LISTEN: 'the router could not listen on a Service port (address in use or not allowed)',
  CAPSTAN_ERR_ROUTER_TLS: "an Ingress TLS Secret is missing or does not hold a valid kubernetes.io/tls certificate and key: TLS is refused for its hosts",

  // agent: runtimes, probes, containers
  CAPSTAN_ERR_AGENT_RUNTIME: 'the container runtime (Docker or the process runtime) reported an error',
  CAPSTAN_ERR_AGENT_IMAGE_PULL: 'the image could not be pulled, or is not present with pull policy Never',
  CAPSTAN_ERR_AGENT_CONTAINER_CONFIG: 'the container cannot be created from its spec (command, env reference, port, volume source or subPath)',
  CAPSTAN_ERR_AGENT_PROXY_AUTH: "a call to a node agent's port did not carry the node's proxy secret",
  CAPSTAN_ERR_AGENT_CONTAINER_NOT_FOUND: 'the agent has no current (or, with previous, no earlier) container by that name for the pod',
  CAPSTAN_ERR_AGENT_EXEC: 'a command could not be run in the container (empty, a TTY asked of the process runtime, or the runtime refused it)',

  // notify: Notification sinks
  CAPSTAN_ERR_NOTIFY_DELIVERY: 'a Notification sink refused a delivery or did not answer, after every attempt (a NotificationFailed event names the sink type and HTTP status)',
  CAPSTAN_ERR_NOTIFY_SECRET: 'a Secret or Secret key a Notification sink refers to does not exist',
  CAPSTAN_ERR_NOTIFY_TEMPLATE: "a Notification's template could not be rendered (an error, or over its time or size limit)",

  // the CLI talking to a server
  CAPSTAN_ERR_CLIENT_UNREACHABLE: 'the Capstan server could not be reached',
  CAPSTAN_ERR_CLIENT_REQUEST: 'the Capstan server refused or failed the request',
  CAPSTAN_ERR_CLIENT_TLS: "the Capstan server's certificate could not be verified: another cluster's CA, a host name the certificate lacks, or an expired certificate",

  // anything else
  CAPSTAN_ERR_INTERNAL_ERROR: 'an unexpected internal error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Where in a source file a problem is. Lines and columns are 1-based. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

/** A problem found in user input: printed as `file:line:col: message`. */
export interface Diagnostic extends SourceLocation {
  severity: 'error' | 'warning';
  code: ErrorCode;
  message: string;
  /** Dotted field path inside the object, when the problem is about one field. */
  field?: string;
}

export interface CapstanErrorOptions {
  cause?: unknown;
  location?: SourceLocation;
  field?: string;
  /** Extra context for logs and JSON output; never put secrets here. */
  context?: Record<string, unknown>;
}

export class CapstanError extends Error {
  readonly code: ErrorCode;
  readonly location?: SourceLocation;
  readonly field?: string;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: CapstanErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CapstanError';
    this.code = code;
    this.location = options.location;
    this.field = options.field;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }

  /** The error as a diagnostic, for callers that collect problems instead of throwing. */
  toDiagnostic(fallbackFile = '<input>'): Diagnostic {
    return {
      severity: 'error',
      code: this.code,
      message: this.message,
      file: this.location?.file ?? fallbackFile,
      line: this.location?.line,
      column: this.location?.column,
      field: this.field,
    };
  }
}

export function isCapstanError(err: unknown, code?: ErrorCode): err is CapstanError {
  return err instanceof CapstanError && (code === undefined || err.code === code);
}

/** `file:line:col: message` (line and column only when known), as compilers print. */
export function formatDiagnostic(d: Diagnostic): string {
  let where = d.file;
  if (d.line !== undefined) {
    where += `:${d.line}`;
    if (d.column !== undefined) where += `:${d.column}`;
  }
  const prefix = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${prefix}${d.message} [${d.code}]`;
}

export function diagnostic(
  severity: Diagnostic['severity'],
  code: ErrorCode,
  message: string,
  location: SourceLocation,
  field?: string,
): Diagnostic {
  const d: Diagnostic = { severity, code, message, file: location.file };
  if (location.line !== undefined) d.line = location.line;
  if (location.column !== undefined) d.column = location.column;
  if (field !== undefined) d.field = field;
  return d;
}
