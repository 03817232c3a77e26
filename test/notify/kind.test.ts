import { describe, expect, it } from 'vitest';
import { isKnownKind, validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'notify/team.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');

const notification = (spec: string) => `apiVersion: capstan.dev/v1
kind: Notification
metadata:
  name: team-alerts
spec:
${spec}`;

describe('Notification (capstan.dev/v1)', () => {
  it('is a known kind; a full spec passes with no diagnostics and is defaulted to the default namespace', () => {
    expect(isKnownKind('capstan.dev/v1', 'Notification')).toBe(true);
    const r = one(notification(`  triggers: [sync-failed, sync-succeeded, rollout-started, step, paused, promoted, aborted, degraded, healthy, rolled-back]
  selector: { matchLabels: { app: web } }
  when: "result.kind == 'Rollout'"
  template: { title: "{{ workload }}", body: "{{ workload }} {{ trigger }} at {{ revision }}: {{ message }}" }
  sinks:
    - webhook: { url: "http://127.0.0.1:9/hook", secretRef: { name: hook, key: hmac } }
    - slack: { urlFrom: { secretKeyRef: { name: slack, key: url } } }
    - github: { owner: o, repo: r, tokenFrom: { secretKeyRef: { name: gh, key: token } }, baseUrl: "https://api.github.com" }
    - gitlab: { project: "group/proj", tokenFrom: { secretKeyRef: { name: gl, key: token } } }
    - gitea: { owner: o, repo: r, tokenFrom: { secretKeyRef: { name: gt, key: token } }, baseUrl: "http://127.0.0.1:3000" }
`));
    expect(r.diagnostics).toEqual([]);
    expect(r.object?.object).toMatchObject({ kind: 'Notification', metadata: { namespace: 'default' } });
  });

  it('an unknown trigger, two sink types in one entry, a bad condition and a bad template are errors at file:line:col', () => {
    const r = one(notification(`  triggers: [healthy, exploded]
  when: "kind == 'Rollout'"
  template:
    body: "{{ workload "
  sinks:
    - slack: { urlFrom: { secretKeyRef: { name: slack, key: url } } }
      webhook: { url: "http://127.0.0.1:9/hook" }
`));
    const e = errors(r);
    expect(e.map((d) => `${d.line}:${d.column} ${d.field}`)).toEqual([
      '6:23 spec.triggers.1',
      '7:3 spec.when',
      '9:5 spec.template.body',
      '11:7 spec.sinks.0',
    ].map((s) => s.replace(/\.(\d)/g, '[$1]')));
    expect(e.find((d) => d.field === 'spec.when')?.message).toMatch(/unknown name "kind"/);
    expect(e.find((d) => d.field === 'spec.sinks[0]')?.message).toMatch(/exactly one of webhook, slack, github, gitlab, gitea, got webhook and slack|got slack and webhook/);
    expect(r.object).toBeUndefined();
  });

  it('a webhook with neither url nor urlFrom, or with credentials in its URL, is refused; missing sinks are required', () => {
    const r = one(notification(`  triggers: [healthy]
  sinks:
    - webhook: {}
    - webhook: { url: "https://user:pw@example.test/x" }
`));
    const msgs = errors(r).map((d) => d.message);
    expect(msgs.some((m) => /must set one of url or urlFrom/.test(m))).toBe(true);
    expect(msgs.some((m) => /carries credentials/.test(m) && !m.includes('pw@'))).toBe(true);
    const r2 = one(notification(`  triggers: [healthy]\n`));
    expect(errors(r2).map((d) => d.message)).toContain('spec.sinks is required');
  });
});
