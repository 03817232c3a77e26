// A StatefulSet pod's network identity, as Kubernetes gives it: spec.hostname is the pod's
// name and spec.subdomain the set's serviceName, so a node's DNS answers
// `<set>-<ordinal>.<serviceName>.<ns>.svc.<domain>` once that headless Service exists.
import { afterEach, describe, expect, it } from 'vitest';
import type { ManifestObject } from '../../src/api/index.js';
import { statefulSetController } from '../../src/controllers/statefulset/index.js';
import { appsHarness, type AppsHarness } from './apps-harness.js';

const open: AppsHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

function sts(name: string, serviceName: string | undefined): ManifestObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 2,
      podManagementPolicy: 'Parallel',
      ...(serviceName !== undefined ? { serviceName } : {}),
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'db:1' }] } },
    },
  };
}

describe('StatefulSet pod identity', () => {
  it('gives each pod its name as hostname and the serviceName as subdomain', async () => {
    const h = await appsHarness((kv, clock) => statefulSetController({ kv, clock, resyncMs: 0 }));
    open.push(h);
    await h.apply(sts('pg', 'pg-peers'));
    await h.drive(async () => (await h.pods()).length === 2);
    const pods = (await h.pods()).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(pods.map((p) => [p.metadata.name, p.spec.hostname, p.spec.subdomain])).toEqual([
      ['pg-0', 'pg-0', 'pg-peers'],
      ['pg-1', 'pg-1', 'pg-peers'],
    ]);
  });

  it('without a serviceName sets the hostname alone', async () => {
    const h = await appsHarness((kv, clock) => statefulSetController({ kv, clock, resyncMs: 0 }));
    open.push(h);
    await h.apply(sts('cache', undefined));
    await h.drive(async () => (await h.pods()).length === 2);
    for (const p of await h.pods()) {
      expect(p.spec.hostname).toBe(p.metadata.name);
      expect(p.spec.subdomain).toBeUndefined();
    }
  });
});
