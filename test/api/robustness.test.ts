// Parse + validate must never throw, whatever the input: seeded mutations of valid manifests
// (type swaps, deletions, junk values) exercise every guard in the checks.

import { describe, expect, it } from 'vitest';
import { findDuplicateObjects, validateDocument } from '../../src/api/index.js';
import type { SourcedObject } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

const SEED_DOCS = [
  `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {canary: {steps: [{setWeight: 10}, {pause: {duration: 30s}}, {analysis: {templates: [{templateName: t}]}}]}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: web:1
          env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]
          ports: [{containerPort: 80, name: http}]
          readinessProbe: {httpGet: {port: http}}
          resources: {requests: {cpu: 100m}}
      tolerations: [{key: a, operator: Exists}]
      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: a, operator: In, values: [b]}]}]}}}
`,
  `apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: "0 * * * *"
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: c:1}]}}}}
`,
  `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
`,
  `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec: {metrics: [{name: m, interval: 1m, provider: {web: {url: "http://127.0.0.1/x"}}}]}
`,
  `apiVersion: capstan.dev/v1
kind: ChartRelease
metadata: {name: r}
spec: {chart: charts/a, valuesFiles: [a.yaml], values: {a: 1}}
`,
];

// Small deterministic PRNG (mulberry32), so a failure is reproducible from the seed.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const JUNK: unknown[] = [null, 0, -1, 1.5, '', 'x', 'UPPER', true, [], {}, [1, 'a'], { a: { b: null } }, '0%', '999%', 'a'.repeat(300)];

function mutate(o: unknown, rand: () => number): unknown {
  if (Array.isArray(o)) {
    const out = o.map((x) => mutate(x, rand));
    if (rand() < 0.1) out.push(JUNK[Math.floor(rand() * JUNK.length)]);
    return out;
  }
  if (o !== null && typeof o === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      const r = rand();
      if (r < 0.06) continue; // drop the field
      out[k] = r < 0.14 ? JUNK[Math.floor(rand() * JUNK.length)] : mutate(v, rand);
    }
    return out;
  }
  return o;
}

describe('robustness', () => {
  it('never throws on 1,500 mutated manifests, and every diagnostic has a position', () => {
    const rand = rng(20240101);
    const seeds = SEED_DOCS.map((t) => parseManifestFile({ path: 'seed.yaml', content: t }).documents[0]);
    const objects: SourcedObject[] = [];
    let errors = 0;
    for (let i = 0; i < 1500; i++) {
      const seed = seeds[i % seeds.length];
      const mutated = mutate(seed.object, rand) as Record<string, unknown>;
      const doc = { ...seed, object: mutated };
      const r = validateDocument(doc);
      for (const d of r.diagnostics) {
        expect(d.line).toBeGreaterThan(0);
        expect(d.message).not.toMatch(/undefined|\[object Object\]/);
      }
      if (r.object) objects.push(r.object);
      else errors += 1;
    }
    expect(errors).toBeGreaterThan(100);
    expect(() => findDuplicateObjects(objects)).not.toThrow();
  });

  it('never throws on truncated or spliced YAML text', () => {
    const text = SEED_DOCS.join('---\n');
    const rand = rng(7);
    for (let i = 0; i < 120; i++) {
      const cut = Math.floor(rand() * text.length);
      const splice = Math.floor(rand() * text.length);
      const broken = text.slice(0, cut) + text.slice(splice, splice + 40) + text.slice(cut + Math.floor(rand() * 20));
      const parsed = parseManifestFile({ path: 'b.yaml', content: broken });
      for (const d of parsed.diagnostics) expect(d.file).toBe('b.yaml');
      for (const doc of parsed.documents) validateDocument(doc);
    }
  });
});
