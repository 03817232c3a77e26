// Ingress (networking.k8s.io/v1): host and path rules to Service ports, a default backend,
// TLS from kubernetes.io/tls Secrets. Served by the router's Ingress listener.

import type { FieldPath } from './document.js';
import type { Report } from './checks.js';
import { dnsSubdomainProblem } from './names.js';
import { arr, int, nonEmpty, obj, oneOfValues, portName, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

export interface IngressBackend {
  service: { name: string; port: { number?: number; name?: string } };
}

export interface IngressPath {
  path?: string;
  pathType: PathType;
  backend: IngressBackend;
}

export interface IngressRule {
  host?: string;
  http?: { paths: IngressPath[] };
}

export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

export interface Ingress extends ManifestObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'Ingress';
  spec: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: IngressTLS[];
    rules?: IngressRule[];
  };
}

/** The IngressClass name Capstan's router answers to (unset is served too). */
export const INGRESS_CLASS = 'capstan';

function backend(): Schema {
  return obj(
    {
      service: obj(
        {
          name: nonEmpty(),
          port: obj({ number: int(1, 65535), name: portName() }, [], { minProperties: 1, maxProperties: 1 }),
        },
        ['name', 'port'],
      ),
    },
    ['service'],
  );
}

export function ingressSchema(): Schema {
  return topLevel(
    {
      spec: obj({
        ingressClassName: nonEmpty(),
        defaultBackend: backend(),
        tls: arr(obj({ hosts: arr(nonEmpty()), secretName: nonEmpty() })),
        rules: arr(
          obj({
            host: nonEmpty(),
            http: obj(
              {
                paths: arr(
                  obj({ path: str(), pathType: oneOfValues(['Exact', 'Prefix', 'ImplementationSpecific']), backend: backend() }, [
                    'pathType',
                    'backend',
                  ]),
                  { minItems: 1 },
                ),
              },
              ['paths'],
            ),
          }),
        ),
      }),
    },
    ['spec'],
  );
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A host as Kubernetes takes it: a DNS subdomain, optionally `*.` before it; no IP, no port. */
export function ingressHostProblem(host: string): string | undefined {
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  if (bare.includes('*')) return 'a wildcard is only allowed as the whole first label ("*.example.com")';
  if (/^[0-9.]+$/.test(bare) || bare.includes(':')) return 'must be a DNS name, not an IP address or host:port';
  return dnsSubdomainProblem(bare);
}

/** Checks JSON Schema cannot say; warnings for what the router does not implement. */
export function checkIngress(o: Obj, report: Report): void {
  const spec = o.spec;
  const meta = o.metadata;
  if (isObj(meta) && isObj(meta.annotations)) {
    for (const key of Object.keys(meta.annotations)) {
      if (key.startsWith('nginx.ingress.kubernetes.io/') || key === 'kubernetes.io/ingress.class') {
        report('CAPSTAN_ERR_API_SCHEMA', `annotation ${key} is not implemented by Capstan's router and is ignored`, ['metadata', 'annotations', key], 'warning');
      }
    }
  }
  if (!isObj(spec)) return;
  if (typeof spec.ingressClassName === 'string' && spec.ingressClassName !== INGRESS_CLASS) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `spec.ingressClassName "${spec.ingressClassName}" is not "${INGRESS_CLASS}": Capstan has one ingress controller and serves this Ingress anyway`,
      ['spec', 'ingressClassName'],
      'warning',
    );
  }
  const rules = list(spec.rules);
  if (spec.defaultBackend === undefined && rules.length === 0) {
    report('CAPSTAN_ERR_API_REQUIRED', 'spec.defaultBackend or spec.rules is required', ['spec']);
  }
  rules.forEach((r, i) => {
    if (!isObj(r)) return;
    if (typeof r.host === 'string') {
      const p = ingressHostProblem(r.host);
      if (p !== undefined) report('CAPSTAN_ERR_API_SCHEMA', `spec.rules[${i}].host "${r.host}": ${p}`, ['spec', 'rules', i, 'host']);
    }
    const paths = isObj(r.http) ? list(r.http.paths) : [];
    paths.forEach((p, j) => {
      if (!isObj(p)) return;
      const path: FieldPath = ['spec', 'rules', i, 'http', 'paths', j];
      const value = p.path;
      if (value === undefined && p.pathType !== 'ImplementationSpecific') {
        report('CAPSTAN_ERR_API_REQUIRED', `spec.rules[${i}].http.paths[${j}].path is required with pathType ${String(p.pathType)}`, path);
      }
      if (typeof value === 'string' && !value.startsWith('/')) {
        report('CAPSTAN_ERR_API_SCHEMA', `spec.rules[${i}].http.paths[${j}].path "${value}" must be an absolute path (start with /)`, [...path, 'path']);
      }
    });
  });
  list(spec.tls).forEach((t, i) => {
    if (!isObj(t)) return;
    list(t.hosts).forEach((h, j) => {
      if (typeof h !== 'string') return;
      const p = ingressHostProblem(h);
      if (p !== undefined) report('CAPSTAN_ERR_API_SCHEMA', `spec.tls[${i}].hosts[${j}] "${h}": ${p}`, ['spec', 'tls', i, 'hosts', j]);
    });
    if (t.secretName === undefined) {
      report('CAPSTAN_ERR_API_REQUIRED', `spec.tls[${i}].secretName is required: Capstan has no default certificate`, ['spec', 'tls', i]);
    }
  });
}
