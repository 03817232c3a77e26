// Pod template, containers and probes: shared by Deployment, Rollout, CronJob and job metrics.

import { arr, bool, int, mapOf, nonEmpty, obj, oneOfValues, port, portName, portOrName, quantity, str, templateMeta } from './schema-util.js';
import type { Schema } from './schema-util.js';
import { podDnsFields, type PodDnsConfigSpec, type PodDnsPolicy } from './pod-dns.js';
import { podAffinitySchema, podSchedulingFields, type PodAffinity, type PreemptionPolicy, type TopologySpreadConstraint } from './scheduling.js';

export type Quantity = string | number;
export type IntOrString = number | string;

export interface HttpGetAction {
  path?: string;
  port: IntOrString;
  host?: string;
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: Array<{ name: string; value: string }>;
}
export interface TcpSocketAction {
  port: IntOrString;
  host?: string;
}
export interface ExecAction {
  command: string[];
}

export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: TcpSocketAction;
  exec?: ExecAction;
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface LifecycleHandler {
  httpGet?: HttpGetAction;
  tcpSocket?: TcpSocketAction;
  exec?: ExecAction;
  sleep?: { seconds: number };
}

export interface KeyRef {
  name: string;
  key: string;
  optional?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface ContainerPort {
  containerPort: number;
  hostPort?: number;
  name?: string;
  protocol?: 'TCP' | 'UDP';
}

export interface ResourceList {
  cpu?: Quantity;
  memory?: Quantity;
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  resources?: { requests?: ResourceList; limits?: ResourceList };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  /** Only on an init container: Always makes it a sidecar (started in order, kept running). */
  restartPolicy?: 'Always';
  securityContext?: SecurityContext;
  lifecycle?: { preStop?: LifecycleHandler };
  volumeMounts?: VolumeMount[];
}

/** Where a pod volume appears in a container (see src/agent/volumes.ts for what each runtime does). */
export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

/** One key of a ConfigMap or Secret written as a file (`path` relative to the volume). */
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface DownwardAPIFile {
  path: string;
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: Quantity };
  mode?: number;
}

export interface ConfigMapVolumeSource {
  name: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}
export interface SecretVolumeSource {
  secretName: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

export interface ProjectedSource {
  configMap?: Omit<ConfigMapVolumeSource, 'defaultMode'>;
  secret?: Omit<ConfigMapVolumeSource, 'defaultMode'>;
  downwardAPI?: { items?: DownwardAPIFile[] };
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: '' | 'Memory'; sizeLimit?: Quantity };
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  hostPath?: { path: string; type?: HostPathType };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  downwardAPI?: { items?: DownwardAPIFile[]; defaultMode?: number };
  projected?: { sources: ProjectedSource[]; defaultMode?: number };
}

export type HostPathType = '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';
export const HOST_PATH_TYPES: HostPathType[] = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];
/** The volume sources Capstan runs; exactly one is set per volume. */
export const VOLUME_SOURCES = ['emptyDir', 'configMap', 'secret', 'hostPath', 'persistentVolumeClaim', 'downwardAPI', 'projected'] as const;

export interface Capabilities {
  add?: string[];
  drop?: string[];
}

/** seccompProfile and appArmorProfile: RuntimeDefault and Unconfined are applied; Localhost is not. */
export interface SecurityProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

/** A container's securityContext; runAsUser, runAsGroup and runAsNonRoot override the pod's. */
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: Capabilities;
  seccompProfile?: SecurityProfile;
  appArmorProfile?: SecurityProfile;
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
  /** Accepted with a warning: not applied. */
  sysctls?: Array<{ name: string; value: string }>;
  seccompProfile?: SecurityProfile;
  appArmorProfile?: SecurityProfile;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
}
export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: Array<{ weight: number; preference: NodeSelectorTerm }>;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface PodSpec {
  containers: Container[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: NodeAffinity; podAffinity?: PodAffinity; podAntiAffinity?: PodAffinity };
  tolerations?: Toleration[];
  topologySpreadConstraints?: TopologySpreadConstraint[];
  /** Pods naming a scheduler other than default-scheduler or capstan are left for it. */
  schedulerName?: string;
  priorityClassName?: string;
  /** Resolved from priorityClassName by the scheduler when unset. */
  priority?: number;
  preemptionPolicy?: PreemptionPolicy;
  hostNetwork?: boolean;
  /** Run one at a time, in order, each to exit 0 before the next and before `containers`. */
  initContainers?: Container[];
  securityContext?: PodSecurityContext;
  /** Secrets of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg used to pull images. */
  imagePullSecrets?: Array<{ name: string }>;
  /** Kept in the pod spec; no token is mounted. */
  serviceAccountName?: string;
  /** Deprecated alias of serviceAccountName. */
  serviceAccount?: string;
  /** Accepted with a warning: no token is mounted either way. */
  automountServiceAccountToken?: boolean;
  /** false: the containers get no `<SVC>_SERVICE_HOST`/`<SVC>_PORT…` variables (default true). */
  enableServiceLinks?: boolean;
  volumes?: Volume[];
  /** How the containers resolve names; unset means ClusterFirst (the node's DNS, then the host's). */
  dnsPolicy?: PodDnsPolicy;
  /** Nameservers, search domains and options added to (or, with dnsPolicy None, making) the pod's resolv.conf. */
  dnsConfig?: PodDnsConfigSpec;
  /** With a headless Service, also answered as `<hostname>.<service>.<ns>.svc.<domain>`. */
  hostname?: string;
  subdomain?: string;
}

export interface PodTemplateSpec {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

// Shared subschemas are registered once with ajv and referenced, so the pod template is
// compiled once for Deployment, Rollout, CronJob and job metrics instead of four times.
export const PROBE_REF = 'https://capstan.dev/schemas/probe.json';
export const POD_TEMPLATE_REF = 'https://capstan.dev/schemas/pod-template.json';

/** Reference to the shared pod template schema (see `sharedSchemas`). */
export function podTemplateRef(): Schema {
  return { $ref: POD_TEMPLATE_REF };
}

export function sharedSchemas(): Schema[] {
  return [
    { $id: PROBE_REF, ...probeSchema() },
    { $id: POD_TEMPLATE_REF, ...podTemplateSchema() },
  ];
}

function httpGet(): Schema {
  return obj(
    {
      path: str(),
      port: portOrName(),
      host: str(),
      scheme: oneOfValues(['HTTP', 'HTTPS']),
      httpHeaders: arr(obj({ name: nonEmpty(), value: str() }, ['name', 'value'])),
    },
    ['port'],
  );
}

function tcpSocket(): Schema {
  return obj({ port: portOrName(), host: str() }, ['port']);
}

function exec(): Schema {
  return obj({ command: arr(str(), { minItems: 1 }) }, ['command']);
}

export function probeSchema(): Schema {
  return obj({
    httpGet: httpGet(),
    tcpSocket: tcpSocket(),
    exec: exec(),
    initialDelaySeconds: int(0),
    periodSeconds: int(1),
    timeoutSeconds: int(1),
    successThreshold: int(1),
    failureThreshold: int(1),
  });
}

function keyRef(): Schema {
  return obj({ name: nonEmpty(), key: nonEmpty(), optional: bool() }, ['name', 'key']);
}

function resourceList(): Schema {
  return obj({ cpu: quantity(), memory: quantity() });
}

export function containerSchema(): Schema {
  return obj(
    {
      name: str(),
      image: nonEmpty(),
      imagePullPolicy: oneOfValues(['Always', 'IfNotPresent', 'Never']),
      command: arr(str()),
      args: arr(str()),
      workingDir: str(),
      env: arr(
        obj(
          {
            name: nonEmpty(),
            value: str(),
            valueFrom: obj({ configMapKeyRef: keyRef(), secretKeyRef: keyRef() }),
          },
          ['name'],
        ),
      ),
      envFrom: arr(
        obj({
          prefix: str(),
          configMapRef: obj({ name: nonEmpty(), optional: bool() }, ['name']),
          secretRef: obj({ name: nonEmpty(), optional: bool() }, ['name']),
        }),
      ),
      ports: arr(
        obj({ containerPort: port(), hostPort: port(), name: portName(), protocol: oneOfValues(['TCP', 'UDP']) }, ['containerPort']),
      ),
      resources: obj({ requests: resourceList(), limits: resourceList() }),
      livenessProbe: { $ref: PROBE_REF },
      readinessProbe: { $ref: PROBE_REF },
      startupProbe: { $ref: PROBE_REF },
      restartPolicy: oneOfValues(['Always']),
      securityContext: obj({
        ...identity(),
        readOnlyRootFilesystem: bool(),
        allowPrivilegeEscalation: bool(),
        privileged: bool(),
        capabilities: obj({ add: arr(nonEmpty()), drop: arr(nonEmpty()) }),
        seccompProfile: securityProfile(),
        appArmorProfile: securityProfile(),
      }),
      lifecycle: obj({
        preStop: obj({ httpGet: httpGet(), tcpSocket: tcpSocket(), exec: exec(), sleep: obj({ seconds: int(0) }, ['seconds']) }),
      }),
      volumeMounts: arr(obj({ name: nonEmpty(), mountPath: nonEmpty(), subPath: str(), readOnly: bool() }, ['name', 'mountPath'])),
    },
    ['name', 'image'],
  );
}

/** runAsUser, runAsGroup and runAsNonRoot: shared by the pod's and each container's securityContext. */
function identity(): Record<string, Schema> {
  return { runAsUser: int(0, 2147483647), runAsGroup: int(0, 2147483647), runAsNonRoot: bool() };
}

function securityProfile(): Schema {
  return obj({ type: oneOfValues(['RuntimeDefault', 'Unconfined', 'Localhost']), localhostProfile: str() }, ['type']);
}

function selectorTerm(): Schema {
  return obj({
    matchExpressions: arr(
      obj(
        {
          key: nonEmpty(),
          operator: oneOfValues(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
          values: arr(str()),
        },
        ['key', 'operator'],
      ),
    ),
  });
}

export function podSpecSchema(): Schema {
  return obj(
    {
      containers: arr(containerSchema(), { minItems: 1 }),
      restartPolicy: oneOfValues(['Always', 'OnFailure', 'Never']),
      terminationGracePeriodSeconds: int(0),
      nodeSelector: mapOf(str()),
      affinity: obj({
        nodeAffinity: obj({
          requiredDuringSchedulingIgnoredDuringExecution: obj(
            { nodeSelectorTerms: arr(selectorTerm(), { minItems: 1 }) },
            ['nodeSelectorTerms'],
          ),
          preferredDuringSchedulingIgnoredDuringExecution: arr(
            obj({ weight: int(1, 100), preference: selectorTerm() }, ['weight', 'preference']),
          ),
        }),
        podAffinity: podAffinitySchema(),
        podAntiAffinity: podAffinitySchema(),
      }),
      ...podSchedulingFields(),
      tolerations: arr(
        obj({
          key: str(),
          operator: oneOfValues(['Exists', 'Equal']),
          value: str(),
          effect: oneOfValues(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
          tolerationSeconds: int(),
        }),
      ),
      hostNetwork: bool(),
      initContainers: arr(containerSchema()),
      securityContext: obj({
        ...identity(),
        fsGroup: int(0),
        supplementalGroups: arr(int(0)),
        sysctls: arr(obj({ name: nonEmpty(), value: str() }, ['name', 'value'])),
        seccompProfile: securityProfile(),
        appArmorProfile: securityProfile(),
      }),
      imagePullSecrets: arr(obj({ name: nonEmpty() }, ['name'])),
      serviceAccountName: str(),
      serviceAccount: str(),
      automountServiceAccountToken: bool(),
      enableServiceLinks: bool(),
      volumes: arr(volumeSchema()),
      ...podDnsFields(),
    },
    ['containers'],
  );
}

function keyToPath(): Schema {
  return obj({ key: nonEmpty(), path: nonEmpty(), mode: int(0) }, ['key', 'path']);
}

function downwardFile(): Schema {
  return obj(
    {
      path: nonEmpty(),
      fieldRef: obj({ fieldPath: nonEmpty(), apiVersion: str() }, ['fieldPath']),
      resourceFieldRef: obj({ containerName: str(), resource: nonEmpty(), divisor: quantity() }, ['resource']),
      mode: int(0),
    },
    ['path'],
  );
}

export function volumeSchema(): Schema {
  const keyed = (nameField: string): Record<string, Schema> => ({ [nameField]: nonEmpty(), items: arr(keyToPath()), optional: bool() });
  return obj(
    {
      name: nonEmpty(),
      emptyDir: obj({ medium: oneOfValues(['', 'Memory']), sizeLimit: quantity() }),
      configMap: obj({ ...keyed('name'), defaultMode: int(0) }, ['name']),
      secret: obj({ ...keyed('secretName'), defaultMode: int(0) }, ['secretName']),
      hostPath: obj({ path: nonEmpty(), type: oneOfValues(HOST_PATH_TYPES) }, ['path']),
      persistentVolumeClaim: obj({ claimName: nonEmpty(), readOnly: bool() }, ['claimName']),
      downwardAPI: obj({ items: arr(downwardFile()), defaultMode: int(0) }),
      projected: obj(
        {
          sources: arr(
            obj({
              configMap: obj(keyed('name'), ['name']),
              secret: obj(keyed('name'), ['name']),
              downwardAPI: obj({ items: arr(downwardFile()) }),
              serviceAccountToken: obj({ path: nonEmpty(), audience: str(), expirationSeconds: int(600) }, ['path']),
            }),
          ),
          defaultMode: int(0),
        },
        ['sources'],
      ),
    },
    ['name'],
  );
}

export function podTemplateSchema(): Schema {
  return obj({ metadata: templateMeta(), spec: podSpecSchema() }, ['spec']);
}
