// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), as problems in words.

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** RFC 1123 label: namespaces, container names. */
export function dnsLabelProblem(v: string): string | undefined {
  if (v.length === 0) return 'must not be empty';
  if (v.length > 63) return `must be at most 63 characters, got ${v.length}`;
  if (!DNS_LABEL.test(v)) return 'must be lowercase letters, digits and "-", starting and ending with a letter or digit (RFC 1123 label)';
  return undefined;
}

/** RFC 1035 label: Service names, which become host names. */
export function dns1035LabelProblem(v: string): string | undefined {
  if (v.length === 0) return 'must not be empty';
  if (v.length > 63) return `must be at most 63 characters, got ${v.length}`;
  if (!DNS_1035_LABEL.test(v)) return 'must be lowercase letters, digits and "-", starting with a letter and ending with a letter or digit (RFC 1035 label)';
  return undefined;
}

/** RFC 1123 subdomain: most object names. */
export function dnsSubdomainProblem(v: string, max = 253): string | undefined {
  if (v.length === 0) return 'must not be empty';
  if (v.length > max) return `must be at most ${max} characters, got ${v.length}`;
  if (!DNS_SUBDOMAIN.test(v)) return 'must be lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (RFC 1123 subdomain)';
  return undefined;
}

/** Label and annotation keys: an optional DNS subdomain prefix and "/", then a name of at most 63. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const p = dnsSubdomainProblem(prefix);
    if (p) return `prefix "${prefix}" ${p}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters, got ${name.length}`;
  if (!QUALIFIED_NAME.test(name)) return 'name part must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return `must be at most 63 characters, got ${v.length}`;
  if (!LABEL_VALUE.test(v)) return 'must be empty or letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** ConfigMap and Secret keys. */
export function configKeyProblem(k: string): string | undefined {
  if (k.length === 0 || k.length > 253) return 'must be 1 to 253 characters';
  if (!/^[-._a-zA-Z0-9]+$/.test(k)) return 'must be letters, digits, "-", "_" and "."';
  if (k === '.' || k === '..') return 'must not be "." or ".."';
  return undefined;
}

/** A path inside the repository: relative, forward slashes, never climbing out. */
export function repoPathProblem(p: string): string | undefined {
  if (p.length === 0) return 'must not be empty';
  if (p.includes('\0')) return 'must not contain NUL';
  if (p.includes('\\')) return 'must use "/" as separator';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'must be relative to the repository root';
  if (p.split('/').includes('..')) return 'must not contain ".." (it would leave the repository)';
  return undefined;
}
