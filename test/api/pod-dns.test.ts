// A pod spec's DNS fields: dnsPolicy, dnsConfig, hostname and subdomain are modelled (no
// "not implemented" warning), checked with Kubernetes' limits at file:line, left unset when
// not written (the pod-template hash of older manifests stays), and shown by the plan.
import { describe, expect, it } from 'vitest';
import { validateDocument, type SourcedObject } from '../../src/api/index.js';
import { computePlan, renderText } from '../../src/plan/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/db.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');

const deployment = (podSpec: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
${podSpec}      containers:
        - name: db
          image: postgres:16
`;

const podSpecOf = (r: ReturnType<typeof one>) => (r.object!.object as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec;

describe('pod DNS fields', () => {
  it('accepts dnsPolicy, dnsConfig, hostname and subdomain without warnings, and keeps them as written', () => {
    const r = one(
      deployment(`      dnsPolicy: ClusterFirstWithHostNet
      dnsConfig:
        nameservers: [10.0.0.53, "fd00::53"]
        searches: [corp.example.com, example.com.]
        options: [{name: ndots, value: "2"}, {name: edns0}]
      hostname: primary
      subdomain: db
`),
    );
    expect(r.diagnostics).toEqual([]);
    expect(podSpecOf(r)).toMatchObject({
      dnsPolicy: 'ClusterFirstWithHostNet',
      dnsConfig: { nameservers: ['10.0.0.53', 'fd00::53'], searches: ['corp.example.com', 'example.com.'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
      hostname: 'primary',
      subdomain: 'db',
    });
  });

  it('accepts every policy, and does not write one into a spec that has none', () => {
    for (const policy of ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default']) {
      expect(one(deployment(`      dnsPolicy: ${policy}\n`)).diagnostics).toEqual([]);
    }
    expect(one(deployment(`      dnsPolicy: None\n      dnsConfig: {nameservers: [1.1.1.1]}\n`)).diagnostics).toEqual([]);
    const plain = one(deployment(''));
    expect(plain.diagnostics).toEqual([]);
    expect(podSpecOf(plain).dnsPolicy).toBeUndefined();
  });

  it('refuses an unknown policy, and None without nameservers, at file:line', () => {
    const bad = one(deployment(`      dnsPolicy: ClusterLast\n`));
    expect(errors(bad).map((d) => [d.field, d.file, d.line])).toEqual([['spec.template.spec.dnsPolicy', 'apps/db.yaml', 12]]);

    const bare = one(deployment(`      dnsPolicy: None\n`));
    expect(errors(bare).map((d) => [d.code, d.field, d.line])).toEqual([['CAPSTAN_ERR_API_REQUIRED', 'spec.template.spec.dnsPolicy', 12]]);
    expect(errors(bare)[0]!.message).toContain('dnsConfig.nameservers');

    const empty = one(deployment(`      dnsPolicy: None\n      dnsConfig:\n        searches: [example.com]\n`));
    expect(errors(empty).map((d) => [d.code, d.field, d.line])).toEqual([['CAPSTAN_ERR_API_REQUIRED', 'spec.template.spec.dnsConfig', 13]]);
    expect(errors(empty)[0]!.message).toBe('spec.template.spec.dnsConfig.nameservers needs at least one nameserver when dnsPolicy is None');
  });

  it("holds dnsConfig to Kubernetes' limits: 3 nameservers, given by address; 32 search domains, each a DNS name", () => {
    const four = one(deployment(`      dnsConfig:\n        nameservers:\n          - 10.0.0.1\n          - 10.0.0.2\n          - 10.0.0.3\n          - 10.0.0.4\n`));
    expect(errors(four).map((d) => [d.field, d.line, d.message])).toEqual([
      ['spec.template.spec.dnsConfig.nameservers[3]', 17, 'spec.template.spec.dnsConfig.nameservers has 4 entries: at most 3 are allowed'],
    ]);
    const three = one(deployment(`      dnsConfig: {nameservers: [10.0.0.1, 10.0.0.2, 10.0.0.3]}\n`));
    expect(three.diagnostics).toEqual([]);

    const byName = one(deployment(`      dnsConfig: {nameservers: [dns.example.com]}\n`));
    expect(errors(byName).map((d) => [d.field, d.message])).toEqual([
      ['spec.template.spec.dnsConfig.nameservers[0]', 'spec.template.spec.dnsConfig.nameservers[0] "dns.example.com" is not an IP address: a nameserver is given by address'],
    ]);

    const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}.example.com`).join(', ');
    expect(one(deployment(`      dnsConfig: {searches: [${names(32)}]}\n`)).diagnostics).toEqual([]);
    const many = one(deployment(`      dnsConfig: {searches: [${names(33)}]}\n`));
    expect(errors(many).map((d) => [d.field, d.message])).toEqual([
      ['spec.template.spec.dnsConfig.searches[32]', 'spec.template.spec.dnsConfig.searches has 33 entries: at most 32 are allowed'],
    ]);
    const odd = one(deployment(`      dnsConfig: {searches: [Has_Underscore.example]}\n`));
    expect(errors(odd).map((d) => [d.code, d.field])).toEqual([['CAPSTAN_ERR_API_NAME', 'spec.template.spec.dnsConfig.searches[0]']]);
    const noName = one(deployment(`      dnsConfig: {options: [{value: "2"}]}\n`));
    expect(errors(noName).map((d) => d.field)).toEqual(['spec.template.spec.dnsConfig.options[0].name']);
  });

  it('refuses a hostname or subdomain that is not an RFC 1123 label', () => {
    const r = one(deployment(`      hostname: Primary.DB\n      subdomain: db_set\n`));
    expect(errors(r).map((d) => [d.code, d.field, d.line])).toEqual([
      ['CAPSTAN_ERR_API_NAME', 'spec.template.spec.hostname', 12],
      ['CAPSTAN_ERR_API_NAME', 'spec.template.spec.subdomain', 13],
    ]);
  });

  it('checks a bare Pod and a StatefulSet template the same way', () => {
    const pod = one(`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  dnsPolicy: None
  containers: [{name: c, image: busybox:1}]
`);
    expect(errors(pod).map((d) => d.field)).toEqual(['spec.dnsPolicy']);
    const sts = one(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s}
spec:
  serviceName: s
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec:
      subdomain: s
      dnsConfig: {nameservers: [a, b, c, d]}
      containers: [{name: c, image: busybox:1}]
`);
    expect(errors(sts).map((d) => d.message)).toEqual(
      expect.arrayContaining([
        'spec.template.spec.dnsConfig.nameservers has 4 entries: at most 3 are allowed',
        'spec.template.spec.dnsConfig.nameservers[0] "a" is not an IP address: a nameserver is given by address',
      ]),
    );
  });

  it('shows a dnsPolicy or dnsConfig change in the plan', () => {
    const sourced = (text: string): SourcedObject => {
      const r = one(text);
      expect(errors(r)).toEqual([]);
      return r.object!;
    };
    const current = sourced(deployment(''));
    const desired = sourced(deployment(`      dnsPolicy: None\n      dnsConfig: {nameservers: [10.0.0.53], searches: [corp.example.com]}\n      hostname: primary\n`));
    const plan = computePlan({ source: { location: 'repo' }, errors: [], warnings: [], base: { kind: 'empty' }, desired: [desired], current: [current] });
    expect(plan.summary.update).toBe(1);
    const fields = plan.changes[0]!.fields!.map((f) => f.path);
    expect(fields).toEqual(expect.arrayContaining(['spec.template.spec.dnsPolicy', 'spec.template.spec.dnsConfig', 'spec.template.spec.hostname']));
    const text = renderText(plan);
    expect(text).toContain('spec.template.spec.dnsPolicy');
    expect(text).toContain('"None"');
    expect(text).toContain('10.0.0.53');
  });
});
