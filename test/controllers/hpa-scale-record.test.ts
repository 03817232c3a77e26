// The workload controllers run an autoscaler's scale record instead of spec.replicas, and go
// back to spec.replicas when the record is deleted.
import { afterEach, describe, expect, it } from 'vitest';
import type { ManifestObject } from '../../src/api/index.js';
import { scaleKey } from '../../src/controllers/index.js';
import { statefulSetController, type StatefulSetStatus } from '../../src/controllers/statefulset/index.js';
import { appsHarness, type AppsHarness } from './apps-harness.js';

const open: AppsHarness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

const db: ManifestObject = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'db', namespace: 'default' },
  spec: {
    replicas: 1,
    serviceName: 'db',
    selector: { matchLabels: { app: 'db' } },
    template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'main', image: 'db:1' }] } },
  },
};

describe('scale record', () => {
  it('a StatefulSet runs the scale record’s count, then spec.replicas again once it is gone', async () => {
    const h = await appsHarness((kv, clock) => statefulSetController({ kv, clock, resyncMs: 0 }));
    open.push(h);
    const live = async () => (await h.pods()).filter((p) => p.metadata.deletionRequestedAt === undefined).map((p) => p.metadata.name).sort();
    const ready = (n: number) => async () => (await live()).length === n && (await h.status<StatefulSetStatus>('StatefulSet', 'db'))?.readyReplicas === n;
    await h.apply(db);
    await h.drive(ready(1));
    await h.kv.put(scaleKey('StatefulSet', 'default', 'db'), JSON.stringify({ replicas: 3, hpa: 'default/db', updatedAt: new Date(h.clock.now()).toISOString() }));
    await h.drive(ready(3));
    expect(await live()).toEqual(['db-0', 'db-1', 'db-2']);
    expect((await h.status<StatefulSetStatus>('StatefulSet', 'db'))?.replicas).toBe(3);
    await h.kv.delete(scaleKey('StatefulSet', 'default', 'db'));
    await h.drive(async () => (await h.pods()).length === 1);
    expect(await live()).toEqual(['db-0']);
  }, 15_000);
});
