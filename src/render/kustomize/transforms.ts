// The transformations a kustomization applies to its objects: names and the references to
// them, namespace, labels (with selectors and pod templates), annotations, images, replicas,
// and the content hash of generated ConfigMaps and Secrets.

import { createHash } from 'node:crypto';
import { isMap, type Json } from './smp.js';

type JsonMap = { [k: string]: Json };

const WORKLOADS = new Set(['Deployment', 'ReplicaSet', 'DaemonSet', 'StatefulSet', 'Rollout']);
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
]);

export function isClusterScoped(kind: unknown): boolean {
  return typeof kind === 'string' && CLUSTER_SCOPED.has(kind);
}

function child(parent: JsonMap, key: string, create: boolean): JsonMap | undefined {
  const v = parent[key];
  if (isMap(v)) return v;
  if (!create || (v !== undefined && v !== null)) return undefined;
  const m: JsonMap = {};
  parent[key] = m;
  return m;
}

/** The map at `path` under `root`, creating missing maps when `create`. */
function at(root: JsonMap, path: string[], create: boolean): JsonMap | undefined {
  let cur: JsonMap | undefined = root;
  for (const key of path) {
    if (!cur) return undefined;
    cur = child(cur, key, create);
  }
  return cur;
}

export function metadata(obj: JsonMap): JsonMap {
  return child(obj, 'metadata', true)!;
}

/** The pod specs an object holds (a Pod's own, a workload's template, a CronJob's job template). */
export function podSpecs(obj: JsonMap): JsonMap[] {
  const spec = isMap(obj.spec) ? obj.spec : undefined;
  if (!spec) return [];
  if (obj.kind === 'Pod') return [spec];
  if (obj.kind === 'CronJob') {
    const s = at(spec, ['jobTemplate', 'spec', 'template', 'spec'], false);
    return s ? [s] : [];
  }
  const s = at(spec, ['template', 'spec'], false);
  return s ? [s] : [];
}

function podTemplateMetas(obj: JsonMap, create: boolean): JsonMap[] {
  const spec = isMap(obj.spec) ? obj.spec : undefined;
  if (!spec) return [];
  if (obj.kind === 'CronJob') {
    return [at(spec, ['jobTemplate', 'metadata'], create), at(spec, ['jobTemplate', 'spec', 'template', 'metadata'], create)].filter(
      (m): m is JsonMap => m !== undefined,
    );
  }
  if (WORKLOADS.has(String(obj.kind)) || obj.kind === 'Job') {
    if (!isMap(spec.template)) return [];
    const m = at(spec, ['template', 'metadata'], create);
    return m ? [m] : [];
  }
  return [];
}

function containers(podSpec: JsonMap): JsonMap[] {
  const out: JsonMap[] = [];
  for (const key of ['initContainers', 'containers', 'ephemeralContainers']) {
    const list = podSpec[key];
    if (Array.isArray(list)) for (const c of list) if (isMap(c)) out.push(c);
  }
  return out;
}

/** One place an object names another: `holder[key]` is the name of an object of `kind`. */
export interface Ref {
  kind: string;
  holder: JsonMap;
  key: string;
}

function mapsOf(v: Json | undefined): JsonMap[] {
  return Array.isArray(v) ? v.filter(isMap) : [];
}

/** Every reference to a ConfigMap, Secret, Service, ServiceAccount, PVC or scale target in `obj`. */
export function references(obj: JsonMap): Ref[] {
  const refs: Ref[] = [];
  const add = (kind: string, holder: JsonMap | undefined, key: string) => {
    if (holder && typeof holder[key] === 'string') refs.push({ kind, holder, key });
  };
  for (const pod of podSpecs(obj)) {
    for (const c of containers(pod)) {
      for (const e of mapsOf(c.env)) {
        const from = isMap(e.valueFrom) ? e.valueFrom : undefined;
        if (!from) continue;
        add('ConfigMap', isMap(from.configMapKeyRef) ? from.configMapKeyRef : undefined, 'name');
        add('Secret', isMap(from.secretKeyRef) ? from.secretKeyRef : undefined, 'name');
      }
      for (const e of mapsOf(c.envFrom)) {
        add('ConfigMap', isMap(e.configMapRef) ? e.configMapRef : undefined, 'name');
        add('Secret', isMap(e.secretRef) ? e.secretRef : undefined, 'name');
      }
    }
    for (const v of mapsOf(pod.volumes)) {
      add('ConfigMap', isMap(v.configMap) ? v.configMap : undefined, 'name');
      add('Secret', isMap(v.secret) ? v.secret : undefined, 'secretName');
      add('PersistentVolumeClaim', isMap(v.persistentVolumeClaim) ? v.persistentVolumeClaim : undefined, 'claimName');
      const projected = isMap(v.projected) ? v.projected : undefined;
      for (const s of mapsOf(projected?.sources)) {
        add('ConfigMap', isMap(s.configMap) ? s.configMap : undefined, 'name');
        add('Secret', isMap(s.secret) ? s.secret : undefined, 'name');
      }
    }
    for (const s of mapsOf(pod.imagePullSecrets)) add('Secret', s, 'name');
    add('ServiceAccount', pod, 'serviceAccountName');
  }
  const spec = isMap(obj.spec) ? obj.spec : undefined;
  if (!spec) return refs;
  if (obj.kind === 'StatefulSet') add('Service', spec, 'serviceName');
  if (obj.kind === 'Rollout' && isMap(spec.strategy)) {
    const canary = isMap(spec.strategy.canary) ? spec.strategy.canary : undefined;
    add('Service', canary, 'canaryService');
    add('Service', canary, 'stableService');
    const bg = isMap(spec.strategy.blueGreen) ? spec.strategy.blueGreen : undefined;
    add('Service', bg, 'activeService');
    add('Service', bg, 'previewService');
  }
  if (obj.kind === 'Ingress') {
    const backends: JsonMap[] = [];
    if (isMap(spec.defaultBackend)) backends.push(spec.defaultBackend);
    for (const r of mapsOf(spec.rules)) for (const p of mapsOf(isMap(r.http) ? r.http.paths : undefined)) if (isMap(p.backend)) backends.push(p.backend);
    for (const b of backends) add('Service', isMap(b.service) ? b.service : undefined, 'name');
  }
  if (obj.kind === 'HorizontalPodAutoscaler' && isMap(spec.scaleTargetRef) && typeof spec.scaleTargetRef.kind === 'string') {
    add(spec.scaleTargetRef.kind, spec.scaleTargetRef, 'name');
  }
  return refs;
}

/** One object renamed: references to `from` in the same namespace now name `to`. */
export interface Rename {
  kind: string;
  namespace: string | undefined;
  from: string;
  to: string;
}

export function namespaceOf(obj: JsonMap): string | undefined {
  const m = isMap(obj.metadata) ? obj.metadata : undefined;
  return typeof m?.namespace === 'string' ? m.namespace : undefined;
}

export function nameOf(obj: JsonMap): string {
  const m = isMap(obj.metadata) ? obj.metadata : undefined;
  return typeof m?.name === 'string' ? m.name : '';
}

/** Rewrite references in `objects` for every rename (kustomize's name reference transformer). */
export function rewriteReferences(objects: JsonMap[], renames: Rename[]): void {
  if (renames.length === 0) return;
  const byKey = new Map<string, string>();
  for (const r of renames) byKey.set(`${r.kind}\0${r.namespace ?? ''}\0${r.from}`, r.to);
  for (const obj of objects) {
    const ns = namespaceOf(obj) ?? '';
    for (const ref of references(obj)) {
      const to = byKey.get(`${ref.kind}\0${ns}\0${ref.holder[ref.key] as string}`);
      if (to !== undefined) ref.holder[ref.key] = to;
    }
  }
}

export function setNamespace(obj: JsonMap, namespace: string): void {
  if (isClusterScoped(obj.kind)) return;
  metadata(obj).namespace = namespace;
  // ServiceAccount subjects of role bindings follow the namespace, as kustomize does.
  if ((obj.kind === 'RoleBinding' || obj.kind === 'ClusterRoleBinding') && Array.isArray(obj.subjects)) {
    for (const s of obj.subjects) if (isMap(s) && s.kind === 'ServiceAccount') s.namespace = namespace;
  }
}

function addTo(m: JsonMap | undefined, key: string, values: Record<string, string>): void {
  if (!m) return;
  const target = child(m, key, true);
  if (target) Object.assign(target, values);
}

export interface LabelOptions {
  /** Also selectors (and pod template labels), as commonLabels does. */
  selectors: boolean;
  /** Also pod template labels. */
  templates: boolean;
}

export function addLabels(obj: JsonMap, labels: Record<string, string>, options: LabelOptions): void {
  addTo(metadata(obj), 'labels', labels);
  if (options.selectors || options.templates) for (const m of podTemplateMetas(obj, true)) addTo(m, 'labels', labels);
  if (!options.selectors) return;
  const spec = isMap(obj.spec) ? obj.spec : undefined;
  if (!spec) return;
  const kind = String(obj.kind);
  if (kind === 'Service') addTo(spec, 'selector', labels);
  else if (WORKLOADS.has(kind)) {
    if (kind !== 'Rollout' || isMap(spec.selector) || isMap(spec.template)) addTo(child(spec, 'selector', true), 'matchLabels', labels);
  } else if (kind === 'Job' || kind === 'PodDisruptionBudget') {
    if (isMap(spec.selector)) addTo(spec.selector, 'matchLabels', labels);
  } else if (kind === 'NetworkPolicy') {
    if (isMap(spec.podSelector)) addTo(spec.podSelector, 'matchLabels', labels);
  }
}

export function addAnnotations(obj: JsonMap, annotations: Record<string, string>): void {
  addTo(metadata(obj), 'annotations', annotations);
  for (const m of podTemplateMetas(obj, true)) addTo(m, 'annotations', annotations);
}

export interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** `registry:5000/app:1.2@sha256:…` → name, tag, digest. */
export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const out: { name: string; tag?: string; digest?: string } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** Apply image overrides to every container; returns the override names that matched. */
export function setImages(obj: JsonMap, images: ImageOverride[]): Set<string> {
  const used = new Set<string>();
  for (const pod of podSpecs(obj)) {
    for (const c of containers(pod)) {
      if (typeof c.image !== 'string') continue;
      const cur = splitImage(c.image);
      const o = images.find((i) => i.name === cur.name);
      if (!o) continue;
      used.add(o.name);
      const name = o.newName ?? cur.name;
      if (o.digest !== undefined) c.image = `${name}@${o.digest}`;
      else if (o.newTag !== undefined) c.image = `${name}:${o.newTag}`;
      else c.image = `${name}${cur.tag !== undefined ? `:${cur.tag}` : ''}${cur.digest !== undefined ? `@${cur.digest}` : ''}`;
    }
  }
  return used;
}

export const SCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'Rollout']);

// Kustomize avoids vowels and look-alike characters in its suffixes, so a suffix never spells a
// word; hex digits that could are mapped the same way here.
const SUFFIX_MAP: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };

/**
 * The name suffix of a generated ConfigMap or Secret: 10 characters from a sha256 of the
 * object's kind, name, type and data (as canonical JSON). Stable across runs and machines, and
 * it changes whenever the data does, which is what makes pods roll; it is not byte-identical
 * to the suffix kustomize itself computes.
 */
export function contentHash(obj: JsonMap): string {
  const sorted = (v: Json | undefined): Json | undefined => {
    if (!isMap(v)) return v;
    const out: JsonMap = {};
    for (const k of Object.keys(v).sort()) out[k] = v[k]!;
    return out;
  };
  const canonical = JSON.stringify({
    kind: obj.kind,
    name: nameOf(obj),
    type: obj.type ?? '',
    data: sorted(obj.data) ?? {},
    binaryData: sorted(obj.binaryData) ?? {},
  });
  const hex = createHash('sha256').update(canonical).digest('hex').slice(0, 10);
  return [...hex].map((c) => SUFFIX_MAP[c] ?? c).join('');
}
