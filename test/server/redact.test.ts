// Secret values are masked for every person reading through the API (viewer, deployer,
// admin) on get, list and watch; an agent with a pod that references the Secret still reads
// the values; plan output never holds a Secret value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import type { ManifestObject, SourcedObject } from '../../src/api/types.js';
import { computePlan, renderMarkdown, renderText } from '../../src/plan/index.js';
import { diffObjects } from '../../src/plan/diff.js';
import { redactSecrets, SECRET_MASK } from '../../src/server/redact.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { deployment, pod, putJson } from './fixtures.js';

const PASSWORD = 'hunter2-correct-horse';
const PASSWORD_B64 = Buffer.from(PASSWORD).toString('base64');
const TOKEN_PLAIN = 'tok-plaintext-5f1e9a';
const NEW_PASSWORD = 'battery-staple-rotated';
const NEW_PASSWORD_B64 = Buffer.from(NEW_PASSWORD).toString('base64');
const SECRET_STRINGS = [PASSWORD, PASSWORD_B64, TOKEN_PLAIN, NEW_PASSWORD, NEW_PASSWORD_B64];

function secretObject(password = PASSWORD, name = 'db'): ManifestObject {
  const manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    type: 'Opaque',
    data: { password: Buffer.from(password).toString('base64') },
    stringData: { token: TOKEN_PLAIN },
  };
  return {
    ...manifest,
    metadata: {
      ...manifest.metadata,
      labels: { app: 'db' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(manifest), owner: 'team-a' },
    },
  } as ManifestObject;
}

function secretRecord(password = PASSWORD, name = 'db'): SourcedObject {
  return { object: secretObject(password, name), source: { file: 'apps/db.yaml', index: 0, line: 1, column: 1 } };
}

function expectNoSecret(text: string): void {
  for (const s of SECRET_STRINGS) expect(text).not.toContain(s);
}

function expectMasked(object: any): void {
  expect(object.kind).toBe('Secret');
  expect(object.data).toEqual({ password: SECRET_MASK });
  expect(object.stringData).toEqual({ token: SECRET_MASK });
  expect(object.metadata.annotations).toEqual({ 'kubectl.kubernetes.io/last-applied-configuration': SECRET_MASK, owner: 'team-a' });
  expect(object.metadata.labels).toEqual({ app: 'db' });
  expect(object.type).toBe('Opaque');
}

describe('redactSecrets', () => {
  it('masks data and stringData values, keeps keys, and leaves the input alone', () => {
    const input = secretObject();
    const before = JSON.stringify(input);
    const out = redactSecrets(input);
    expectMasked(out);
    expectNoSecret(JSON.stringify(out));
    expect(JSON.stringify(input)).toBe(before);
  });

  it('finds Secrets nested in records and lists, and returns other objects unchanged', () => {
    const d = deployment('default', 'web');
    const list = [secretRecord(), d];
    const out = redactSecrets(list);
    expectMasked(out[0]!.object);
    expect(out[1]).toBe(d);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'visible' } };
    expect(redactSecrets(cm)).toBe(cm);
  });
});

describe('Secret reads through the API', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startApi({ heartbeatMs: 100 });
    await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/db`, secretRecord());
    await putJson(t.kv, `${STORE_PREFIX.desired}Deployment/default/web`, deployment('default', 'web'));
    const p = pod('default', 'web-1', 'node-a');
    p.spec.containers[0]!.env = [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] as Pod['spec']['containers'][0]['env'];
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, p);
  });
  afterAll(async () => t.close());

  it('masks a single desired Secret for viewer, deployer and admin', async () => {
    for (const role of ['viewer', 'deployer', 'admin'] as const) {
      const r = await call(t.url, 'GET', '/api/v1/desired/Secret/default/db', { token: t.tokens[role] });
      expect(r.status, role).toBe(200);
      expectMasked(r.json.object);
      expectNoSecret(r.text);
    }
  });

  it('masks Secrets in lists, with and without a namespace filter', async () => {
    for (const path of ['/api/v1/desired', '/api/v1/desired?namespace=default']) {
      const r = await call(t.url, 'GET', path, { token: t.tokens.viewer });
      expect(r.status).toBe(200);
      const secret = r.json.items.find((i: any) => i.object.kind === 'Secret');
      expectMasked(secret.object);
      expect(r.json.items.some((i: any) => i.object.kind === 'Deployment')).toBe(true);
      expectNoSecret(r.text);
    }
  });

  it('masks Secrets in watch streams: initial ADDED, MODIFIED and DELETED', async () => {
    const s = await openSse(t.url, '/api/v1/desired?watch=1', { token: t.tokens.viewer });
    try {
      expect(s.status).toBe(200);
      const seen: any[] = [];
      const nextSecret = async (): Promise<any> => {
        for (;;) {
          const e = await s.next();
          seen.push(e);
          if (e.data?.object?.kind === 'Secret' && e.data.object.metadata.name === 'rotating') return e;
        }
      };
      await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/rotating`, secretRecord(PASSWORD, 'rotating'));
      const added = await nextSecret();
      expect(added.event).toBe('ADDED');
      expect(added.data.object.data).toEqual({ password: SECRET_MASK });
      await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/rotating`, secretRecord(NEW_PASSWORD, 'rotating'));
      const modified = await nextSecret();
      expect(modified.event).toBe('MODIFIED');
      expect(modified.data.object.data).toEqual({ password: SECRET_MASK });
      await t.kv.delete(`${STORE_PREFIX.desired}Secret/default/rotating`);
      const deleted = await nextSecret();
      expect(deleted.event).toBe('DELETED');
      expect(deleted.data.object.stringData).toEqual({ token: SECRET_MASK });
      // The initial listing carried the seeded Secret, masked too.
      const initial = seen.find((e) => e.data?.object?.metadata?.name === 'db');
      expectMasked(initial.data.object);
      expectNoSecret(JSON.stringify(seen));
    } finally {
      s.close();
    }
  });

  it('still serves the values to an agent whose pod references the Secret, and to no other agent', async () => {
    const r = await call(t.url, 'GET', '/api/v1/desired/Secret/default/db', { token: t.tokens.agentA });
    expect(r.status).toBe(200);
    expect(r.json.object.data).toEqual({ password: PASSWORD_B64 });
    expect(r.json.object.stringData).toEqual({ token: TOKEN_PLAIN });
    const other = await call(t.url, 'GET', '/api/v1/desired/Secret/default/db', { token: t.tokens.agentB });
    expect(other.status).toBe(403);
    expectNoSecret(other.text);
  });
});

describe('plan output for Secrets', () => {
  const source = { location: 'repo', ref: 'main', commit: null };

  it('shows a changed Secret key without the old or new value', () => {
    const plan = computePlan({
      source,
      base: { kind: 'ref', location: 'repo', ref: 'base', commit: null },
      desired: [secretRecord(NEW_PASSWORD)],
      current: [secretRecord(PASSWORD)],
      errors: [],
      warnings: [],
    });
    expect(plan.summary.update).toBe(1);
    const fields = plan.changes[0]!.fields;
    expect(fields.map((f) => f.path)).toContain('data.password');
    expect(fields.find((f) => f.path === 'data.password')).toMatchObject({ sensitive: true });
    for (const out of [JSON.stringify(plan), renderText(plan), renderMarkdown(plan)]) {
      expect(out).toContain('data.password');
      expectNoSecret(out);
    }
  });

  it('shows a created Secret without its values', () => {
    const plan = computePlan({ source, base: { kind: 'empty' }, desired: [secretRecord()], current: [], errors: [], warnings: [] });
    expect(plan.summary.create).toBe(1);
    for (const out of [JSON.stringify(plan), renderText(plan), renderMarkdown(plan)]) expectNoSecret(out);
  });

  it('against masked live Secrets, reports added and removed keys but no invented value change', () => {
    const live = redactSecrets(secretRecord(PASSWORD));
    expect(diffObjects(live.object, secretObject(NEW_PASSWORD))).toEqual([]);
    const more = secretObject(PASSWORD);
    (more as any).data = { ...(more as any).data, extra: Buffer.from('x').toString('base64') };
    const fields = diffObjects(live.object, more);
    expect(fields).toEqual([{ path: 'data.extra', to: '(sensitive value)', sensitive: true }]);
  });
});
