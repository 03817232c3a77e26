// Shared shapes of the object model. Kind-specific types live beside their schemas.

export interface ObjectMeta {
  name: string;
  /** Always set after defaulting ("default" when the manifest leaves it out). */
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A manifest after validation and defaulting. */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Identity of an object: kind, namespace and name (apiVersion is not part of identity). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

/** Where an object was defined. */
export interface ObjectSource {
  file: string;
  /** 0-based document index in the file. */
  index: number;
  /** For an object expanded from a `kind: List`, its 0-based position in `items`. */
  item?: number;
  line: number;
  column: number;
  /** Positions of the fields admission checks across objects (src/api/admission.ts), by field path. */
  at?: Record<string, { line: number; column: number }>;
  /** Set when the object was rendered from a chart: the release that produced it. */
  release?: { namespace: string; name: string; file: string; line: number };
}

export interface SourcedObject {
  object: ManifestObject;
  source: ObjectSource;
}

/** `Kind/namespace/name`, the key objects are matched by in plans and the store. */
export function objectId(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** Annotation prefix Capstan owns; such annotations never count as a change. */
export const CAPSTAN_ANNOTATION_PREFIX = 'capstan.dev/';
