// Ingress schema and checks, Service type/nodePort/clusterIP rules, nodePort conflicts across
// Services, all with file:line:col, read through the loader sync uses.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../../src/render/index.js';
import { tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function load(files: Record<string, string>) {
  const dir = tempDir('capstan-networking-');
  dirs.push(dir);
  writeFiles(dir, files);
  return loadDesired(dir);
}

const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  defaultBackend:
    service: { name: web, port: { number: 80 } }
  tls:
    - hosts: [shop.example.com]
      secretName: shop-tls
  rules:
    - host: "*.example.com"
      http:
        paths:
          - path: /api
            pathType: Prefix
            backend:
              service: { name: api, port: { name: http } }
`;

function service(name: string, body: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: { app: ${name} }
${body}`;
}

describe('Ingress', () => {
  it('accepts a full Ingress and warns about the class and nginx annotations, naming them', async () => {
    const state = await load({ 'ing.yaml': INGRESS });
    expect(state.errors).toEqual([]);
    expect(state.objects.map((o) => o.object.kind)).toEqual(['Ingress']);
    const warnings = state.warnings.map((w) => `${w.line}:${w.column} ${w.message}`);
    expect(warnings.some((w) => w.startsWith('6:5 ') && w.includes('nginx.ingress.kubernetes.io/rewrite-target'))).toBe(true);
    expect(warnings.some((w) => w.startsWith('8:3 ') && w.includes('"nginx" is not "capstan"') && w.includes('serves this Ingress anyway'))).toBe(true);
  });

  it('refuses a bad pathType, a relative path, a bad wildcard host and a port with both number and name, at the field', async () => {
    const bad = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
spec:
  rules:
    - host: "a.*.example.com"
      http:
        paths:
          - path: api
            pathType: Prefix
            backend:
              service: { name: api, port: { number: 80 } }
          - path: /x
            pathType: Regex
            backend:
              service: { name: api, port: { number: 80, name: http } }
`;
    const state = await load({ 'bad.yaml': bad });
    const got = state.errors.map((e) => `${e.line}:${e.column} ${e.code}`);
    expect(got).toContain('7:7 CAPSTAN_ERR_API_SCHEMA'); // host
    expect(got).toContain('10:13 CAPSTAN_ERR_API_SCHEMA'); // relative path
    expect(state.errors.some((e) => e.line === 15 && e.message.includes('Exact, Prefix, ImplementationSpecific'))).toBe(true);
    expect(state.errors.some((e) => e.line === 17)).toBe(true); // port with two keys
    expect(state.objects).toEqual([]);
  });

  it('needs rules or a default backend', async () => {
    const state = await load({ 'e.yaml': 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: e }\nspec: {}\n' });
    expect(state.errors.map((e) => e.code)).toEqual(['CAPSTAN_ERR_API_REQUIRED']);
  });
});

describe('Service type, nodePort and clusterIP', () => {
  it('refuses a nodePort outside 30000-32767 at its position', async () => {
    const state = await load({ 's.yaml': service('a', 'type: NodePort\nports:\n  - port: 80\n    nodePort: 8080\n'.replace(/^/gm, '  ')) });
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', file: 's.yaml', line: 10, column: 7 });
    expect(state.errors[0]!.message).toMatch(/30000/);
  });

  it('refuses a nodePort on a ClusterIP Service', async () => {
    const state = await load({ 's.yaml': service('a', '  ports:\n    - port: 80\n      nodePort: 30080\n') });
    expect(state.errors.map((e) => [e.code, e.line])).toEqual([['CAPSTAN_ERR_API_SCHEMA', 9]]);
  });

  it('refuses the same nodePort in two Services, at the second, naming the first', async () => {
    const state = await load({
      'a.yaml': service('a', '  type: NodePort\n  ports:\n    - port: 80\n      nodePort: 30080\n'),
      'b.yaml': service('b', '  type: LoadBalancer\n  ports:\n    - port: 81\n      nodePort: 30080\n'),
    });
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_NODE_PORT_CONFLICT', file: 'b.yaml', line: 10, column: 7 });
    expect(state.errors[0]!.message).toContain('Service default/a (a.yaml:10:7)');
    expect(state.warnings.some((w) => w.file === 'b.yaml' && w.message.includes('LoadBalancer'))).toBe(true);
  });

  it('refuses the same nodePort twice in one Service', async () => {
    const state = await load({ 'a.yaml': service('a', '  type: NodePort\n  ports:\n    - { name: x, port: 80, nodePort: 30080 }\n    - { name: y, port: 81, nodePort: 30080 }\n') });
    expect(state.errors.map((e) => [e.code, e.line])).toEqual([['CAPSTAN_ERR_API_NODE_PORT_CONFLICT', 10]]);
  });

  it('accepts clusterIP None without a warning, and warns about a fixed cluster IP', async () => {
    const headless = await load({ 'h.yaml': service('h', '  clusterIP: None\n  ports:\n    - port: 80\n') });
    expect(headless.errors).toEqual([]);
    expect(headless.warnings).toEqual([]);
    const fixed = await load({ 'f.yaml': service('f', '  clusterIP: 192.0.2.7\n  ports:\n    - port: 80\n') });
    expect(fixed.warnings.map((w) => w.line)).toEqual([7]);
    const bad = await load({ 'b.yaml': service('b', '  clusterIP: None\n  type: NodePort\n  ports:\n    - port: 80\n') });
    expect(bad.errors.map((e) => e.code)).toEqual(['CAPSTAN_ERR_API_SCHEMA']);
  });
});
