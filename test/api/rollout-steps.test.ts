// Rollout canary steps Argo Rollouts has and Capstan accepts: experiment, setMirrorRoute,
// route steps combined with setCanaryScale, trafficRouting, workloadRef; errors at file:line:col.
import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function validate(steps: string, extra = '', spec = '') {
  const text = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${spec || `  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
`}  strategy:
    canary:
${extra}      steps:
${steps}`;
  const parsed = parseManifestFile({ path: 'apps/web.yaml', content: text });
  const [doc] = parsed.documents;
  const r = validateDocument(doc!);
  const show = (sev: string) => r.diagnostics.filter((d) => d.severity === sev).map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`);
  return { errors: show('error'), warnings: show('warning'), object: r.object };
}

const MANAGED = `      trafficRouting:
        managedRoutes: [{name: beta}, {name: shadow}]
`;

describe('Rollout steps (validation)', () => {
  it('accepts setCanaryScale together with setHeaderRoute or setMirrorRoute in one step', () => {
    const r = validate(
      `        - setCanaryScale: {replicas: 1}
          setHeaderRoute: {name: beta, match: [{headerName: x-beta, headerValue: {exact: "1"}}]}
        - setCanaryScale: {weight: 10}
          setMirrorRoute:
            name: shadow
            percentage: 50
            match:
              - method: {exact: GET}
                path: {prefix: /api}
                headers: {x-user: {regex: "a.*"}}
        - pause: {}
`,
      MANAGED,
    );
    expect(r.errors).toEqual([]);
    expect(r.object).toBeDefined();
    expect(r.warnings.join('\n')).toContain('spec.strategy.canary.trafficRouting (managedRoutes) is not used');
  });

  it('refuses setWeight, pause, experiment and analysis combined in one step, at the second field', () => {
    const r = validate(`        - setWeight: 20
          pause: {}
        - analysis: {templates: [{templateName: t}]}
          setCanaryScale: {replicas: 1}
`);
    expect(r.errors).toHaveLength(2);
    expect(r.errors[0]).toMatch(/^14:11 CAPSTAN_ERR_API_SCHEMA spec\.strategy\.canary\.steps\[0\] sets setWeight and pause/);
    expect(r.errors[1]).toMatch(/^16:11 CAPSTAN_ERR_API_SCHEMA spec\.strategy\.canary\.steps\[1\] sets analysis and setCanaryScale/);
  });

  it('a route name missing from a declared managedRoutes is an error; with no managedRoutes it is accepted', () => {
    const bad = validate(`        - setMirrorRoute: {name: other, match: [{path: {prefix: /}}]}
`, MANAGED);
    expect(bad.errors).toEqual([
      expect.stringMatching(/^15:28 CAPSTAN_ERR_API_REFERENCE spec\.strategy\.canary\.steps\[0\]\.setMirrorRoute\.name "other" must be listed/),
    ]);
    const loose = validate(`        - setMirrorRoute: {name: other, match: [{path: {prefix: /}}]}
`);
    expect(loose.errors).toEqual([]);
    expect(loose.warnings).toEqual([]);
  });

  it('reports a bad mirror regex and a match with two tests at their positions', () => {
    const r = validate(`        - setMirrorRoute:
            name: shadow
            match:
              - path: {regex: "a(", prefix: /x}
`, MANAGED);
    expect(r.errors.some((e) => /^18:\d+ CAPSTAN_ERR_API_SCHEMA .*match\[0\]\.path sets (regex and prefix|prefix and regex)/.test(e))).toBe(true);
    expect(r.errors.some((e) => e.includes('path.regex is not a valid regular expression'))).toBe(true);
  });

  it('accepts trafficRouting providers in any shape, with one warning naming them', () => {
    const r = validate(`        - setWeight: 10
`, `      trafficRouting:
        nginx: {stableIngress: web, additionalIngressAnnotations: {canary-by-header: X-Canary}}
        istio: {virtualService: {name: web, routes: [primary]}}
        plugins: {"argoproj-labs/gatewayAPI": {httpRoute: web}}
`);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([expect.stringMatching(/^12:7 CAPSTAN_ERR_API_SCHEMA spec\.strategy\.canary\.trafficRouting \(nginx, istio, plugins\) is not used: Capstan's router splits/)]);
  });

  it('accepts an experiment step and checks its template names and selectors', () => {
    const ok = validate(`        - experiment:
            duration: 5m
            templates:
              - {name: baseline, specRef: stable, replicas: 1}
              - {name: candidate, specRef: canary, weight: 5, selector: {matchLabels: {role: c}}, metadata: {labels: {role: c}}}
            analyses:
              - {name: compare, templateName: mann-whitney, args: [{name: svc, value: web}], requiredForCompletion: true}
`);
    expect(ok.errors).toEqual([]);
    const bad = validate(`        - experiment:
            templates:
              - {name: baseline, specRef: stable}
              - {name: baseline, specRef: canary, selector: {matchLabels: {role: c}}, metadata: {labels: {role: d}}}
              - {name: x, specRef: preview}
`);
    expect(bad.errors.join('\n')).toMatch(/16:18 CAPSTAN_ERR_API_SCHEMA .*templates\[1\]\.name "baseline" is already used by templates\[0\]/);
    expect(bad.errors.join('\n')).toMatch(/CAPSTAN_ERR_API_SELECTOR .*templates\[1\]\.selector\.matchLabels does not match/);
    expect(bad.errors.join('\n')).toMatch(/17:\d+ CAPSTAN_ERR_API_SCHEMA .*specRef/);
    expect(bad.warnings.join('\n')).toContain('has no duration and no analysis with requiredForCompletion');
  });

  it('workloadRef replaces template and selector; both template and workloadRef is an error at workloadRef', () => {
    const ref = validate(`        - setWeight: 10
`, '', `  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}
`);
    // The referenced Deployment is looked up across the commit (checkWorkloadRefs).
    expect(ref.errors).toEqual([]);
    const both = validate(`        - setWeight: 10
`, '', `  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}
`);
    expect(both.errors).toEqual([expect.stringMatching(/^10:3 CAPSTAN_ERR_API_SCHEMA spec\.template and spec\.workloadRef are both set/)]);
    const none = validate(`        - setWeight: 10
`, '', `  replicas: 2
`);
    expect(none.errors.join('\n')).toContain('spec.template is required (or spec.workloadRef naming a Deployment)');
    const badScale = validate(`        - setWeight: 10
`, '', `  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: sometimes}
`);
    expect(badScale.errors.join("\n")).toMatch(/5:67 .*scaleDown must be one of never, onsuccess, progressively/);
  });
});
