import type { ParsedDocument } from '../api/index.js';
import type { Diagnostic } from '../common/index.js';

// Field paths, positions and the parsed document belong to the API stage, which validates them.
export type { FieldPath, ParsedDocument, Position } from '../api/index.js';

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
