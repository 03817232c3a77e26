import type { Diagnostic } from '../common/index.js';

/** A path into an object: keys and array indexes, e.g. ['spec', 'template', 'spec', 'containers', 0]. */
export type FieldPath = ReadonlyArray<string | number>;

export interface Position {
  line: number;
  column: number;
}

/** One YAML/JSON document that holds a mapping, with the positions of its fields kept. */
export interface ParsedDocument {
  /** Repository-relative file path. */
  file: string;
  /** 0-based index of the document inside a multi-document file. */
  index: number;
  /** For an object expanded from a `kind: List`, its 0-based position in `items`. */
  item?: number;
  /** Position of the document's first content. */
  position: Position;
  /** The document as plain JSON data. */
  object: Record<string, unknown>;
  /**
   * Position of a field's key (or of an array item), falling back to its nearest ancestor that
   * exists; so an error about a missing field points at the mapping that should hold it.
   */
  locate(path: FieldPath): Position;
}

export interface ParseResult {
  documents: ParsedDocument[];
  diagnostics: Diagnostic[];
}

export interface ParseLimits {
  /** Most alias expansions per document: defeats "billion laughs" (default 100). */
  maxAliasCount: number;
  /** Deepest nesting of mappings and sequences (default 64). */
  maxDepth: number;
  /** Most documents in one file (default 10,000). */
  maxDocuments: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxAliasCount: 100,
  maxDepth: 64,
  maxDocuments: 10_000,
};
