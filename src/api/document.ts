// A manifest document as the API stage validates it: its data and where each field stands in
// its file. The render stage produces these (parsing keeps the positions); every check here
// reports a problem by field path, turned into file:line:col by `locate`.

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
