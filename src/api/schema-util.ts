// Small builders for the JSON Schemas, so each kind's schema reads like its field list.
// Every object schema is closed (`additionalProperties: false`): the validator turns those
// reports into "not implemented" warnings, which is how no field is ever silently dropped.

export type Schema = Record<string, unknown>;

/** A closed object: unknown fields are reported. */
export function obj(properties: Record<string, Schema>, required: string[] = [], extra: Schema = {}): Schema {
  const s: Schema = { type: 'object', properties, additionalProperties: false, ...extra };
  if (required.length > 0) s.required = required;
  return s;
}

/** An open map with values of one shape (labels, data, nodeSelector). */
export function mapOf(values: Schema): Schema {
  return { type: 'object', additionalProperties: values };
}

export function arr(items: Schema, extra: Schema = {}): Schema {
  return { type: 'array', items, ...extra };
}

export function str(extra: Schema = {}): Schema {
  return { type: 'string', ...extra };
}

export function nonEmpty(extra: Schema = {}): Schema {
  return { type: 'string', minLength: 1, ...extra };
}

export function int(minimum?: number, maximum?: number): Schema {
  const s: Schema = { type: 'integer' };
  if (minimum !== undefined) s.minimum = minimum;
  if (maximum !== undefined) s.maximum = maximum;
  return s;
}

export function bool(): Schema {
  return { type: 'boolean' };
}

export function oneOfValues(values: string[]): Schema {
  return { type: 'string', enum: values };
}

/** A free-form object (chart values): anything goes, nothing is reported. */
export function anyObject(): Schema {
  return { type: 'object' };
}

// Kubernetes resource.Quantity: a decimal number with an optional SI, binary or exponent suffix.
export const QUANTITY_RE = '^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$';
export const PERCENT_RE = '^[0-9]+%$';
// IANA_SVC_NAME: at most 15 lowercase letters, digits and dashes, at least one letter.
export const PORT_NAME_RE = '^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$';
export const DURATION_RE = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$|^[0-9]+$';
export const BASE64_RE = '^[A-Za-z0-9+/]*={0,2}$';

export function quantity(): Schema {
  return { type: ['string', 'number'], pattern: QUANTITY_RE, minimum: 0, hint: 'a Kubernetes quantity such as 500m, 0.5, 128Mi or 1G' };
}

export function intOrPercent(): Schema {
  return { type: ['integer', 'string'], pattern: PERCENT_RE, minimum: 0, hint: 'an integer or a percentage such as 25%' };
}

export function port(): Schema {
  return int(1, 65535);
}

/** A port number or a named port (probes, targetPort). */
export function portOrName(): Schema {
  return {
    type: ['integer', 'string'],
    minimum: 1,
    maximum: 65535,
    pattern: PORT_NAME_RE,
    hint: 'a port number or a port name (at most 15 lowercase letters, digits and dashes)',
  };
}

export function portName(): Schema {
  return str({ pattern: PORT_NAME_RE, hint: 'a port name (at most 15 lowercase letters, digits and dashes)' });
}

export function duration(): Schema {
  return {
    type: ['number', 'string'],
    minimum: 0,
    pattern: DURATION_RE,
    hint: 'a duration: seconds as a number, or a string such as 30s, 5m or 1h',
  };
}

export function labels(): Schema {
  return mapOf(str());
}

export function objectMeta(): Schema {
  return obj({ name: str(), namespace: str(), labels: labels(), annotations: labels() }, ['name']);
}

/** Metadata on pod and job templates: no name of their own. */
export function templateMeta(): Schema {
  return obj({ labels: labels(), annotations: labels() });
}

/** The envelope every kind shares; `body` holds spec or data fields. */
export function topLevel(body: Record<string, Schema>, required: string[]): Schema {
  return obj({ apiVersion: str(), kind: str(), metadata: objectMeta(), ...body }, ['apiVersion', 'kind', 'metadata', ...required]);
}
