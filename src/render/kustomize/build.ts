// One kustomization folder → the objects it renders, like `kustomize build`: resources and
// bases (files and kustomization folders), components, generators, patches, then name
// prefix/suffix, namespace, labels, annotations, images and replicas. Files are read through
// an injected reader (the source at the commit), never from disk. Every problem is a
// Diagnostic naming the kustomization field (file:line:col) it came from; nothing is thrown.

import { applyPatch, type Operation } from 'rfc6902';
import { parse as parseYaml } from 'yaml';
import { diagnostic, type Diagnostic, type ErrorCode } from '../../common/index.js';
import { parseManifestFast } from '../fast-parse.js';
import { parseManifestFile } from '../yaml.js';
import type { FieldPath, ParseResult, Position } from '../types.js';
import { KUSTOMIZATION_FILES, baseName, dirOf, join, resolvePath } from './paths.js';
import { isMap, strategicMerge, type Json } from './smp.js';
import {
  SCALABLE,
  addAnnotations,
  addLabels,
  contentHash,
  metadata,
  nameOf,
  namespaceOf,
  rewriteReferences,
  setImages,
  setNamespace,
  type ImageOverride,
  type Rename,
} from './transforms.js';

type JsonMap = { [k: string]: Json };

/** Reads repository files (any kind, not only manifests) at the commit being rendered. */
export interface KustomizeReader {
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Git blob id of a file, when known, so parsed files can be cached by content. */
  blobId?(path: string): string | undefined;
}

/** Where an object came from, so validation reports the resource file (or the generator). */
export interface ResourceOrigin {
  file: string;
  index: number;
  item?: number;
  position: Position;
  locate(path: FieldPath): Position;
}

/** One object inside a build. */
export interface KResource {
  object: JsonMap;
  origin: ResourceOrigin;
  /** Names the object had before prefixes, suffixes and hashes: patches may target any. */
  names: string[];
  /** Set for ConfigMaps and Secrets from a generator: whether they get a content-hash suffix. */
  generated?: { hash: boolean };
  /** The kustomization files this object passed through, innermost first. */
  via: string[];
}

export interface BuildContext {
  reader: KustomizeReader;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Every file read while building (resources, patches, generator inputs, kustomizations). */
  reached: Set<string>;
  /** Folders of kustomizations that another kustomization refers to. */
  referenced: Set<string>;
  parseCache: Map<string, ParseResult>;
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'resources',
  'bases',
  'components',
  'namePrefix',
  'nameSuffix',
  'namespace',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'images',
  'replicas',
  'patches',
  'patchesStrategicMerge',
  'patchesJson6902',
  'configMapGenerator',
  'secretGenerator',
  'generatorOptions',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Parsed resource files by content, shared between builds; objects are cloned on use.
const sharedParseCache = new Map<string, ParseResult>();
const SHARED_CACHE_MAX = 10_000;

export function newContext(reader: KustomizeReader): BuildContext {
  return { reader, errors: [], warnings: [], reached: new Set(), referenced: new Set(), parseCache: new Map() };
}

/** The kustomization file of a folder, if it has one. */
export async function findKustomization(reader: KustomizeReader, dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    const p = join(dir, name);
    if ((await reader.readFile(p)) !== undefined) return p;
  }
  return undefined;
}

class Kust {
  readonly dir: string;
  constructor(
    readonly file: string,
    readonly doc: { object: Record<string, unknown>; locate(path: FieldPath): Position },
    readonly ctx: BuildContext,
  ) {
    this.dir = dirOf(file);
  }

  loc(path: FieldPath): { file: string; line: number; column: number } {
    return { file: this.file, ...this.doc.locate(path) };
  }

  report(code: ErrorCode, message: string, path: FieldPath, severity: 'error' | 'warning' = 'error'): void {
    const field = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
    (severity === 'error' ? this.ctx.errors : this.ctx.warnings).push(diagnostic(severity, code, message, this.loc(path), field || undefined));
  }

  get(key: string): unknown {
    return this.doc.object[key];
  }

  /** A list field; reports and returns [] when it is not a list. */
  list(key: string): unknown[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${key} must be a list`, [key]);
      return [];
    }
    return v;
  }

  /** A string-to-string map field. */
  stringMap(value: unknown, path: FieldPath): Record<string, string> | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isMap(value as Json)) {
      this.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${path.join('.')} must be a mapping of strings`, path);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as JsonMap)) {
      if (typeof v === 'string') out[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
      else this.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${[...path, k].join('.')} must be a string`, [...path, k]);
    }
    return out;
  }

  resolve(entry: unknown, path: FieldPath): string | undefined {
    if (typeof entry !== 'string' || entry === '') {
      this.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${path.join('.')} must be a path`, path);
      return undefined;
    }
    const r = resolvePath(this.dir, entry);
    if (!r.ok) {
      this.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', r.reason, path);
      return undefined;
    }
    return r.path;
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    const bytes = await this.ctx.reader.readFile(path);
    if (bytes !== undefined) this.ctx.reached.add(path);
    return bytes;
  }
}

async function openKustomization(file: string, ctx: BuildContext): Promise<Kust | undefined> {
  const bytes = await ctx.reader.readFile(file);
  if (bytes === undefined) return undefined;
  ctx.reached.add(file);
  const parsed = parseManifestFile({ path: file, content: bytes });
  for (const d of parsed.diagnostics) (d.severity === 'error' ? ctx.errors : ctx.warnings).push(d);
  if (parsed.diagnostics.some((d) => d.severity === 'error')) return undefined;
  const doc = parsed.documents[0];
  if (!doc) {
    ctx.errors.push(diagnostic('error', 'CAPSTAN_ERR_KUSTOMIZE_INVALID', 'the kustomization file is empty', { file, line: 1, column: 1 }));
    return undefined;
  }
  const k = new Kust(file, doc, ctx);
  for (const key of Object.keys(doc.object)) {
    if (!KNOWN_FIELDS.has(key)) k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${key} is not implemented by Capstan's kustomize support: ignored`, [key], 'warning');
  }
  const kind = doc.object.kind;
  if (kind !== undefined && kind !== 'Kustomization' && kind !== 'Component') {
    k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `kind must be Kustomization or Component, not ${String(kind)}`, ['kind']);
    return undefined;
  }
  return k;
}

function parseCached(path: string, bytes: Uint8Array, ctx: BuildContext): ParseResult {
  const blob = ctx.reader.blobId?.(path);
  const key = blob ? `${blob}\0${path}` : undefined;
  const hit = ctx.parseCache.get(path) ?? (key ? sharedParseCache.get(key) : undefined);
  if (hit) return hit;
  const parsed = parseManifestFast({ path, content: bytes });
  ctx.parseCache.set(path, parsed);
  if (key) {
    if (sharedParseCache.size >= SHARED_CACHE_MAX) sharedParseCache.clear();
    sharedParseCache.set(key, parsed);
  }
  return parsed;
}

function fromFile(path: string, bytes: Uint8Array, ctx: BuildContext, via: string): KResource[] {
  const parsed = parseCached(path, bytes, ctx);
  // Diagnostics of a file reached from two overlays are reported once (deduplicated later).
  for (const d of parsed.diagnostics) (d.severity === 'error' ? ctx.errors : ctx.warnings).push(d);
  const out: KResource[] = [];
  for (const doc of parsed.documents) {
    const object = structuredClone(doc.object) as JsonMap;
    const origin: ResourceOrigin = { file: doc.file, index: doc.index, position: doc.position, locate: doc.locate };
    if (doc.item !== undefined) origin.item = doc.item;
    out.push({ object, origin, names: [nameOf(object)], via: [via] });
  }
  return out;
}

/**
 * Build the kustomization in `dir` (its file is `file`). `stack` holds the folders being built
 * (cycle check); `input` is what a component transforms (components build on top of the
 * including kustomization's objects).
 */
export async function buildKustomization(file: string, ctx: BuildContext, stack: string[] = [], input: KResource[] = []): Promise<KResource[]> {
  const k = await openKustomization(file, ctx);
  if (!k) return input;
  const inner = [...stack, k.dir];
  let res: KResource[] = [...input];

  // resources and the legacy bases.
  for (const key of ['resources', 'bases']) {
    const entries = k.list(key);
    for (let i = 0; i < entries.length; i++) {
      const path = k.resolve(entries[i], [key, i]);
      if (path === undefined) continue;
      const loaded = await loadResource(k, path, [key, i], inner);
      if (loaded) res.push(...loaded);
    }
  }
  if (k.get('bases') !== undefined) k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'bases is deprecated: list the folders under resources', ['bases'], 'warning');

  const components = k.list('components');
  for (let i = 0; i < components.length; i++) {
    const path = k.resolve(components[i], ['components', i]);
    if (path === undefined) continue;
    const compFile = await findKustomization(ctx.reader, path);
    if (!compFile) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `component ${String(components[i])} has no kustomization.yaml`, ['components', i]);
      continue;
    }
    if (inner.includes(path)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_CYCLE', `component ${String(components[i])} includes itself`, ['components', i]);
      continue;
    }
    ctx.referenced.add(path);
    res = await buildKustomization(compFile, ctx, inner, res);
  }

  res = await generate(k, res, 'configMapGenerator', 'ConfigMap');
  res = await generate(k, res, 'secretGenerator', 'Secret');
  res = await applyStrategicPatches(k, res);
  res = await applyPatches(k, res);
  res = await applyJson6902(k, res);
  transform(k, res);
  for (const r of res) if (r.via[r.via.length - 1] !== k.file) r.via.push(k.file);
  return res;
}

async function loadResource(k: Kust, path: string, field: FieldPath, stack: string[]): Promise<KResource[] | undefined> {
  const entry = (k.doc.object as JsonMap)[field[0] as string] as Json[];
  const shown = String(entry[field[1] as number]);
  const bytes = await k.read(path);
  if (bytes !== undefined) return fromFile(path, bytes, k.ctx, k.file);
  const sub = await findKustomization(k.ctx.reader, path);
  if (!sub) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `${shown} does not exist (no such file, and no kustomization.yaml in such a folder)`, field);
    return undefined;
  }
  if (stack.includes(path)) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_CYCLE', `${shown} is a kustomization that is already being built (${[...stack, path].join(' → ')})`, field);
    return undefined;
  }
  k.ctx.referenced.add(path);
  return buildKustomization(sub, k.ctx, stack);
}

// ---- generators ----

interface GeneratorOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  disableNameSuffixHash?: boolean;
}

function readOptions(k: Kust, value: unknown, path: FieldPath): GeneratorOptions {
  if (value === undefined || value === null) return {};
  if (!isMap(value as Json)) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${path.join('.')} must be a mapping`, path);
    return {};
  }
  const v = value as JsonMap;
  const out: GeneratorOptions = {};
  const labels = k.stringMap(v.labels, [...path, 'labels']);
  if (labels) out.labels = labels;
  const annotations = k.stringMap(v.annotations, [...path, 'annotations']);
  if (annotations) out.annotations = annotations;
  if (v.disableNameSuffixHash !== undefined) {
    if (typeof v.disableNameSuffixHash !== 'boolean') k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'disableNameSuffixHash must be true or false', [...path, 'disableNameSuffixHash']);
    else out.disableNameSuffixHash = v.disableNameSuffixHash;
  }
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) return v.slice(1, -1);
  return v;
}

/** Generated data: text values (`data`) and, for ConfigMaps, non-UTF-8 files (`binaryData`). */
interface GenData {
  data: Record<string, string>;
  binary: Record<string, string>;
}

async function generatorData(k: Kust, g: JsonMap, path: FieldPath): Promise<GenData | undefined> {
  const out: GenData = { data: {}, binary: {} };
  let ok = true;
  const put = (key: string, value: string, at: FieldPath, binary = false) => {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `key "${key}" is not a valid ConfigMap/Secret key`, at);
      ok = false;
      return;
    }
    (binary ? out.binary : out.data)[key] = value;
  };
  const strings = (field: string): string[] => {
    const v = g[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${field} must be a list of strings`, [...path, field]);
      ok = false;
      return [];
    }
    return v as string[];
  };
  strings('literals').forEach((lit, i) => {
    const eq = lit.indexOf('=');
    // The value is never shown: it may be a secret.
    if (eq <= 0) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `literal ${i} is not KEY=VALUE`, [...path, 'literals', i]);
      ok = false;
      return;
    }
    put(lit.slice(0, eq), unquote(lit.slice(eq + 1)), [...path, 'literals', i]);
  });
  const files = strings('files');
  for (let i = 0; i < files.length; i++) {
    const entry = files[i]!;
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq) : baseName(entry);
    const rel = eq > 0 ? entry.slice(eq + 1) : entry;
    const p = k.resolve(rel, [...path, 'files', i]);
    if (p === undefined) {
      ok = false;
      continue;
    }
    const bytes = await k.read(p);
    if (bytes === undefined) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `file ${rel} does not exist`, [...path, 'files', i]);
      ok = false;
      continue;
    }
    let text: string | undefined;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = undefined;
    }
    if (text === undefined) put(key, Buffer.from(bytes).toString('base64'), [...path, 'files', i], true);
    else put(key, text, [...path, 'files', i]);
  }
  const envs = [...strings('envs')];
  if (typeof g.env === 'string') envs.push(g.env);
  for (let i = 0; i < envs.length; i++) {
    const field: FieldPath = i < strings('envs').length ? [...path, 'envs', i] : [...path, 'env'];
    const p = k.resolve(envs[i], field);
    if (p === undefined) {
      ok = false;
      continue;
    }
    const bytes = await k.read(p);
    if (bytes === undefined) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `env file ${envs[i]} does not exist`, field);
      ok = false;
      continue;
    }
    const lines = Buffer.from(bytes).toString('utf8').split(/\r?\n/);
    lines.forEach((raw, n) => {
      const line = raw.replace(/^\uFEFF/, '').trim();
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      if (eq <= 0) {
        k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${envs[i]}:${n + 1} is not KEY=VALUE (values from the environment are not read)`, field);
        ok = false;
        return;
      }
      put(line.slice(0, eq).trim(), unquote(line.slice(eq + 1)), field);
    });
  }
  return ok ? out : undefined;
}

async function generate(k: Kust, res: KResource[], field: string, kind: 'ConfigMap' | 'Secret'): Promise<KResource[]> {
  const gens = k.list(field);
  if (gens.length === 0) return res;
  const global = readOptions(k, k.get('generatorOptions'), ['generatorOptions']);
  for (let i = 0; i < gens.length; i++) {
    const path: FieldPath = [field, i];
    const g = gens[i];
    if (!isMap(g as Json) || typeof (g as JsonMap).name !== 'string' || (g as JsonMap).name === '') {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${field}[${i}] needs a name`, path);
      continue;
    }
    const gen = g as JsonMap;
    const name = gen.name as string;
    const behavior = gen.behavior ?? 'create';
    if (behavior !== 'create' && behavior !== 'merge' && behavior !== 'replace') {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `behavior must be create, merge or replace, not ${String(behavior)}`, [...path, 'behavior']);
      continue;
    }
    const own = readOptions(k, gen.options, [...path, 'options']);
    const opts: GeneratorOptions = {
      labels: { ...global.labels, ...own.labels },
      annotations: { ...global.annotations, ...own.annotations },
    };
    const disable = own.disableNameSuffixHash ?? global.disableNameSuffixHash;
    const data = await generatorData(k, gen, path);
    if (!data) continue;
    const namespace = typeof gen.namespace === 'string' ? gen.namespace : undefined;
    const existing = res.find((r) => r.object.kind === kind && r.names.includes(name) && (namespace === undefined || namespaceOf(r.object) === namespace));
    const encode = (d: Record<string, string>): Record<string, string> =>
      kind === 'Secret' ? Object.fromEntries(Object.entries(d).map(([key, v]) => [key, Buffer.from(v, 'utf8').toString('base64')])) : d;

    if (behavior === 'create') {
      if (existing) {
        k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${kind} ${name} already exists: use behavior merge or replace`, [...path, 'name']);
        continue;
      }
      const object: JsonMap = { apiVersion: 'v1', kind, metadata: { name } };
      const meta = metadata(object);
      if (namespace !== undefined) meta.namespace = namespace;
      if (Object.keys(opts.labels!).length > 0) meta.labels = { ...opts.labels };
      if (Object.keys(opts.annotations!).length > 0) meta.annotations = { ...opts.annotations };
      if (kind === 'Secret') object.type = typeof gen.type === 'string' ? gen.type : 'Opaque';
      object.data = encode(data.data);
      if (Object.keys(data.binary).length > 0) {
        if (kind === 'Secret') Object.assign(object.data as JsonMap, data.binary);
        else object.binaryData = { ...data.binary };
      }
      const position = k.doc.locate(path);
      res.push({
        object,
        origin: { file: k.file, index: 0, position, locate: () => position },
        names: [name],
        generated: { hash: disable !== true },
        via: [k.file],
      });
      continue;
    }
    if (!existing) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `behavior ${behavior}: there is no ${kind} ${name} from a base to ${behavior} with`, [...path, 'behavior']);
      continue;
    }
    const obj = existing.object;
    if (behavior === 'replace') {
      obj.data = encode(data.data);
      delete obj.binaryData;
    } else {
      obj.data = { ...(isMap(obj.data) ? obj.data : {}), ...encode(data.data) };
    }
    if (Object.keys(data.binary).length > 0) {
      const target = kind === 'Secret' ? (obj.data as JsonMap) : (obj.binaryData = isMap(obj.binaryData) ? obj.binaryData : {});
      Object.assign(target, data.binary);
    }
    const meta = metadata(obj);
    if (Object.keys(opts.labels!).length > 0) meta.labels = { ...(isMap(meta.labels) ? meta.labels : {}), ...opts.labels };
    if (Object.keys(opts.annotations!).length > 0) meta.annotations = { ...(isMap(meta.annotations) ? meta.annotations : {}), ...opts.annotations };
    if (disable !== undefined) existing.generated = { hash: !disable };
    else existing.generated ??= { hash: true };
  }
  return res;
}

// ---- patches ----

interface Target {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
  annotationSelector?: string;
}

function groupVersion(obj: JsonMap): { group: string; version: string } {
  const av = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const slash = av.indexOf('/');
  return slash < 0 ? { group: '', version: av } : { group: av.slice(0, slash), version: av.slice(slash + 1) };
}

function anchored(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return undefined;
  }
}

/** `a=b,c!=d,e` (equality-based label selector) against a label map. */
function selectorMatches(selector: string, labels: Record<string, unknown>): boolean {
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const ne = term.indexOf('!=');
    if (ne > 0) {
      if (labels[term.slice(0, ne).trim()] === term.slice(ne + 2).trim()) return false;
      continue;
    }
    const eq = term.indexOf('=');
    if (eq > 0) {
      const value = term.slice(eq + 1).replace(/^=/, '').trim();
      if (labels[term.slice(0, eq).trim()] !== value) return false;
      continue;
    }
    if (term.startsWith('!')) {
      if (term.slice(1) in labels) return false;
    } else if (!(term in labels)) return false;
  }
  return true;
}

function matchesTarget(r: KResource, t: Target): boolean {
  const obj = r.object;
  const gv = groupVersion(obj);
  if (t.kind !== undefined && obj.kind !== t.kind) return false;
  if (t.group !== undefined && gv.group !== t.group) return false;
  if (t.version !== undefined && gv.version !== t.version) return false;
  if (t.namespace !== undefined && (namespaceOf(obj) ?? 'default') !== t.namespace) return false;
  if (t.name !== undefined) {
    const re = anchored(t.name);
    if (!re || !r.names.some((n) => re.test(n))) return false;
  }
  const meta = isMap(obj.metadata) ? obj.metadata : {};
  if (t.labelSelector !== undefined && !selectorMatches(t.labelSelector, isMap(meta.labels) ? meta.labels : {})) return false;
  if (t.annotationSelector !== undefined && !selectorMatches(t.annotationSelector, isMap(meta.annotations) ? meta.annotations : {})) return false;
  return true;
}

function readTarget(k: Kust, value: unknown, path: FieldPath): Target | undefined {
  if (!isMap(value as Json)) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${path.join('.')} must be a mapping (group, version, kind, name, namespace, labelSelector, annotationSelector)`, path);
    return undefined;
  }
  const t: Target = {};
  for (const key of ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector'] as const) {
    const v = (value as JsonMap)[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${key} must be a string`, [...path, key]);
      return undefined;
    }
    t[key] = v;
  }
  return t;
}

function describeTarget(t: Target): string {
  const parts = Object.entries(t).map(([key, v]) => `${key}=${v}`);
  return parts.length > 0 ? parts.join(', ') : 'any object';
}

/** Patch documents from a file or inline text; reports and returns undefined on bad YAML. */
async function patchDocuments(k: Kust, source: { path?: unknown; patch?: unknown }, field: FieldPath): Promise<Json[] | undefined> {
  let text: string;
  let file = k.file;
  if (typeof source.patch === 'string') text = source.patch;
  else if (source.path !== undefined) {
    const p = k.resolve(source.path, [...field, 'path']);
    if (p === undefined) return undefined;
    const bytes = await k.read(p);
    if (bytes === undefined) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_RESOURCE', `patch file ${String(source.path)} does not exist`, [...field, 'path']);
      return undefined;
    }
    text = Buffer.from(bytes).toString('utf8');
    file = p;
  } else {
    k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'a patch needs path or patch', field);
    return undefined;
  }
  const parsed = parseManifestFile({ path: file, content: text });
  // A JSON 6902 patch is a list, which the manifest parser refuses: parse it directly.
  if (parsed.diagnostics.some((d) => d.code === 'CAPSTAN_ERR_RENDER_NOT_OBJECT')) {
    try {
      return [parseYaml(text, { version: '1.2' }) as Json];
    } catch (err) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `the patch is not valid YAML: ${(err as Error).message}`, field);
      return undefined;
    }
  }
  const bad = parsed.diagnostics.find((d) => d.severity === 'error');
  if (bad) {
    // A bad patch file points at itself; a bad inline patch at its field in the kustomization.
    if (file !== k.file) k.ctx.errors.push(bad);
    else k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `the inline patch is not valid YAML: ${bad.message}`, [...field, 'patch']);
    return undefined;
  }
  return parsed.documents.map((d) => d.object as JsonMap);
}

function applySmp(k: Kust, res: KResource[], patch: JsonMap, targets: KResource[], field: FieldPath): KResource[] {
  let out = res;
  for (const r of targets) {
    const p = structuredClone(patch);
    // The patch's own name (often the base name) must not rename the target.
    if (isMap(p.metadata)) {
      delete p.metadata.name;
      delete p.metadata.namespace;
    }
    delete p.apiVersion;
    delete p.kind;
    const merged = strategicMerge(r.object, p);
    if (merged === undefined) out = out.filter((x) => x !== r);
    else if (!isMap(merged)) k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'the patch does not leave a mapping', field);
    else r.object = merged;
  }
  return out;
}

function smpTargets(k: Kust, res: KResource[], patch: JsonMap, field: FieldPath): KResource[] | undefined {
  const meta = isMap(patch.metadata) ? patch.metadata : undefined;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  if (typeof patch.kind !== 'string' || name === undefined) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'a strategic merge patch without a target needs kind and metadata.name', field);
    return undefined;
  }
  const ns = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
  const found = res.filter((r) => r.object.kind === patch.kind && r.names.includes(name) && (ns === undefined || namespaceOf(r.object) === ns));
  if (found.length === 0) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `patch target ${patch.kind}/${name} not found among the kustomization's objects`, field);
    return undefined;
  }
  return found;
}

function applyJsonPatch(k: Kust, res: KResource[], ops: Json, targets: KResource[], field: FieldPath): void {
  if (!Array.isArray(ops) || !ops.every((o) => isMap(o) && typeof o.op === 'string' && typeof o.path === 'string')) {
    k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'a JSON 6902 patch must be a list of operations with op and path', field);
    return;
  }
  for (const r of targets) {
    const copy = structuredClone(r.object);
    const results = applyPatch(copy, ops as unknown as Operation[]);
    const failed = results.findIndex((e) => e !== null);
    if (failed >= 0) {
      const op = ops[failed] as JsonMap;
      k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `operation ${failed} (${String(op.op)} ${String(op.path)}) failed on ${String(r.object.kind)}/${nameOf(r.object)}: ${results[failed]!.message}`, field);
      continue;
    }
    if (!isMap(copy as Json)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'the patch does not leave a mapping', field);
      continue;
    }
    r.object = copy;
  }
}

async function applyStrategicPatches(k: Kust, res: KResource[]): Promise<KResource[]> {
  const entries = k.list('patchesStrategicMerge');
  let out = res;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const field: FieldPath = ['patchesStrategicMerge', i];
    if (typeof e !== 'string') {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'patchesStrategicMerge entries are file paths or inline YAML', field);
      continue;
    }
    const inline = e.includes('\n') || /^\s*(apiVersion|kind)\s*:/.test(e);
    const docs = await patchDocuments(k, inline ? { patch: e } : { path: e }, field);
    for (const d of docs ?? []) {
      if (!isMap(d)) {
        k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'a strategic merge patch must be a mapping', field);
        continue;
      }
      const targets = smpTargets(k, out, d, field);
      if (targets) out = applySmp(k, out, d, targets, field);
    }
  }
  return out;
}

async function applyPatches(k: Kust, res: KResource[]): Promise<KResource[]> {
  const entries = k.list('patches');
  let out = res;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const field: FieldPath = ['patches', i];
    if (!isMap(e as Json)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'patches entries are mappings with path or patch, and an optional target', field);
      continue;
    }
    const entry = e as JsonMap;
    const docs = await patchDocuments(k, entry, field);
    if (!docs) continue;
    let target: Target | undefined;
    if (entry.target !== undefined) {
      target = readTarget(k, entry.target, [...field, 'target']);
      if (!target) continue;
    }
    for (const d of docs) {
      const json6902 = Array.isArray(d);
      let targets: KResource[] | undefined;
      if (target) {
        targets = out.filter((r) => matchesTarget(r, target));
        if (targets.length === 0) {
          k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `patch target (${describeTarget(target)}) matches no object of the kustomization`, [...field, 'target']);
          continue;
        }
      } else if (json6902) {
        k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'a JSON 6902 patch needs a target', field);
        continue;
      } else if (isMap(d)) targets = smpTargets(k, out, d, field);
      if (!targets) continue;
      if (json6902) applyJsonPatch(k, out, d, targets, field);
      else if (isMap(d)) out = applySmp(k, out, d, targets, field);
      else k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', 'a patch must be a mapping (strategic merge) or a list (JSON 6902)', field);
    }
  }
  return out;
}

async function applyJson6902(k: Kust, res: KResource[]): Promise<KResource[]> {
  const entries = k.list('patchesJson6902');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const field: FieldPath = ['patchesJson6902', i];
    if (!isMap(e as Json)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'patchesJson6902 entries are mappings with target and path or patch', field);
      continue;
    }
    const entry = e as JsonMap;
    const target = readTarget(k, entry.target, [...field, 'target']);
    if (!target) continue;
    const docs = await patchDocuments(k, entry, field);
    if (!docs) continue;
    const targets = res.filter((r) => matchesTarget(r, target));
    if (targets.length === 0) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `patch target (${describeTarget(target)}) matches no object of the kustomization`, [...field, 'target']);
      continue;
    }
    for (const d of docs) applyJsonPatch(k, res, d, targets, field);
  }
  return res;
}

// ---- transformers ----

function transform(k: Kust, res: KResource[]): void {
  const ns = k.get('namespace');
  if (ns !== undefined) {
    if (typeof ns !== 'string' || ns === '') k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'namespace must be a string', ['namespace']);
    else for (const r of res) setNamespace(r.object, ns);
  }

  const prefix = k.get('namePrefix');
  const suffix = k.get('nameSuffix');
  for (const [key, v] of [['namePrefix', prefix], ['nameSuffix', suffix]] as const) {
    if (v !== undefined && typeof v !== 'string') k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${key} must be a string`, [key]);
  }
  const pre = typeof prefix === 'string' ? prefix : '';
  const suf = typeof suffix === 'string' ? suffix : '';
  if (pre !== '' || suf !== '') {
    const renames: Rename[] = [];
    for (const r of res) {
      // Namespaces and cluster-scoped kinds keep their names, as with kustomize's defaults.
      if (r.object.kind === 'Namespace' || r.object.kind === 'CustomResourceDefinition') continue;
      const from = nameOf(r.object);
      const to = `${pre}${from}${suf}`;
      metadata(r.object).name = to;
      r.names.push(to);
      renames.push({ kind: String(r.object.kind), namespace: namespaceOf(r.object), from, to });
    }
    rewriteReferences(
      res.map((r) => r.object),
      renames,
    );
  }

  const commonLabels = k.stringMap(k.get('commonLabels'), ['commonLabels']);
  if (commonLabels) for (const r of res) addLabels(r.object, commonLabels, { selectors: true, templates: true });

  const labels = k.list('labels');
  labels.forEach((entry, i) => {
    if (!isMap(entry as Json)) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'labels entries are mappings with pairs, includeSelectors and includeTemplates', ['labels', i]);
      return;
    }
    const e = entry as JsonMap;
    const pairs = k.stringMap(e.pairs, ['labels', i, 'pairs']);
    if (!pairs) return;
    const selectors = e.includeSelectors === true;
    const templates = selectors || e.includeTemplates === true;
    for (const r of res) addLabels(r.object, pairs, { selectors, templates });
  });

  const annotations = k.stringMap(k.get('commonAnnotations'), ['commonAnnotations']);
  if (annotations) for (const r of res) addAnnotations(r.object, annotations);

  const images = k.list('images');
  const overrides: ImageOverride[] = [];
  images.forEach((entry, i) => {
    if (!isMap(entry as Json) || typeof (entry as JsonMap).name !== 'string') {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'images entries need a name', ['images', i]);
      return;
    }
    const e = entry as JsonMap;
    const o: ImageOverride = { name: e.name as string };
    for (const key of ['newName', 'newTag', 'digest'] as const) {
      const v = e[key];
      if (v === undefined || v === null) continue;
      if (typeof v === 'string' || typeof v === 'number') o[key] = String(v);
      else k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', `${key} must be a string`, ['images', i, key]);
    }
    overrides.push(o);
  });
  if (overrides.length > 0) for (const r of res) setImages(r.object, overrides);

  const replicas = k.list('replicas');
  replicas.forEach((entry, i) => {
    const e = entry as JsonMap;
    if (!isMap(e) || typeof e.name !== 'string' || typeof e.count !== 'number' || !Number.isInteger(e.count) || e.count < 0) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_INVALID', 'replicas entries need a name and a whole count', ['replicas', i]);
      return;
    }
    const hits = res.filter((r) => SCALABLE.has(String(r.object.kind)) && r.names.includes(e.name as string));
    if (hits.length === 0) {
      k.report('CAPSTAN_ERR_KUSTOMIZE_PATCH', `replicas: no Deployment, StatefulSet, ReplicaSet or Rollout named ${e.name}`, ['replicas', i, 'name'], 'warning');
      return;
    }
    for (const r of hits) {
      if (!isMap(r.object.spec)) r.object.spec = {};
      (r.object.spec as JsonMap).replicas = e.count;
    }
  });
}

/** The last step of a top-level build: content-hash suffixes on generated objects, and the references to them. */
export function addHashSuffixes(res: KResource[]): void {
  const renames: Rename[] = [];
  for (const r of res) {
    if (!r.generated?.hash) continue;
    const from = nameOf(r.object);
    const to = `${from}-${contentHash(r.object)}`;
    metadata(r.object).name = to;
    r.names.push(to);
    renames.push({ kind: String(r.object.kind), namespace: namespaceOf(r.object), from, to });
  }
  rewriteReferences(
    res.map((r) => r.object),
    renames,
  );
}
