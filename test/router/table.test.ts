import { describe, expect, it } from 'vitest';
import { buildTables, cookieValue, hostPortFor, Picker, portProtocol, toPercent } from '../../src/router/index.js';
import { pod, service } from './fixtures.js';

const svc = service('web', [{ name: 'http', port: 80, targetPort: 'http' }]);

function stableAndCanary(stableReplicas: number, canaryReplicas: number) {
  const pods = [];
  for (let i = 0; i < stableReplicas; i++) pods.push(pod(`web-s${i}`, 'stable', 10000 + i));
  for (let i = 0; i < canaryReplicas; i++) pods.push(pod(`web-c${i}`, 'canary', 11000 + i));
  return pods;
}

describe('routing table', () => {
  it('groups ready, selected pods by revision and resolves named and numbered target ports', () => {
    const pods = [
      ...stableAndCanary(2, 1),
      pod('not-ready', 'stable', 12000, { ready: false }),
      pod('other-app', 'stable', 12001, { labels: { app: 'db' } }),
      { ...pod('leaving', 'stable', 12002), metadata: { ...pod('leaving', 'stable', 12002).metadata, deletionRequestedAt: '2026-01-01T00:00:00Z' } },
    ];
    const [t] = buildTables(svc, pods, undefined);
    expect(Object.keys(t.backends).sort()).toEqual(['canary', 'stable']);
    expect(t.backends.stable.map((e) => e.id)).toEqual(['127.0.0.1:10000', '127.0.0.1:10001']);
    expect(t.protocol).toBe('http');
    // No policy, several revisions: by ready-endpoint count.
    expect(t.weights).toEqual({ stable: 67, canary: 33 });
    const numbered = buildTables(service('web', [{ port: 80, targetPort: 8080 }]), pods, undefined)[0];
    expect(numbered.backends.stable).toHaveLength(2);
    expect(hostPortFor(pods[0], 'nope')).toBeUndefined();
  });

  it('sends everything to a single revision without a policy', () => {
    const [t] = buildTables(svc, stableAndCanary(3, 0), undefined);
    expect(t.weights).toEqual({ stable: 100 });
  });

  it('gives a weighted revision without ready endpoints no share', () => {
    const [t] = buildTables(svc, stableAndCanary(2, 0), { weights: { stable: 80, canary: 20 } });
    expect(t.weights).toEqual({ stable: 100 });
    const p = new Picker(t);
    for (let i = 0; i < 50; i++) expect(p.pick()?.revision).toBe('stable');
  });

  for (const weight of [1, 5, 20, 50]) {
    it(`splits exactly at canary weight ${weight} over 10,000 picks, whatever the replica ratio`, () => {
      const [t] = buildTables(svc, stableAndCanary(4, 1), { weights: { stable: 100 - weight, canary: weight } });
      const p = new Picker(t);
      const seen: Record<string, number> = {};
      const perEndpoint: Record<string, number> = {};
      for (let i = 0; i < 10_000; i++) {
        const e = p.pick()!;
        seen[e.revision] = (seen[e.revision] ?? 0) + 1;
        perEndpoint[e.id] = (perEndpoint[e.id] ?? 0) + 1;
      }
      expect(seen.canary).toBe(weight * 100);
      expect(seen.stable).toBe((100 - weight) * 100);
      // Round-robin inside the stable revision: four endpoints share evenly.
      for (let i = 0; i < 4; i++) expect(perEndpoint[`127.0.0.1:${10000 + i}`]).toBe((100 - weight) * 25);
    });
  }

  it('tries header and cookie routes before the weights', () => {
    const [t] = buildTables(svc, stableAndCanary(2, 1), {
      weights: { stable: 100, canary: 0 },
      headerRoutes: [
        { name: 'beta', match: { header: { name: 'X-Beta', exact: 'yes' } }, revision: 'canary' },
        { name: 'group', match: { cookie: { name: 'group', regex: 'b[0-9]+' } }, revision: 'canary' },
        { name: 'pre', match: { header: { name: 'x-user', prefix: 'qa-' } }, revision: 'canary' },
        { name: 'bad', match: { header: { name: 'x', regex: '(' } }, revision: 'canary' },
      ],
    });
    expect(t.routes.map((r) => r.name)).toEqual(['beta', 'group', 'pre']);
    const p = new Picker(t);
    expect(p.pick({ 'x-beta': 'yes' })?.revision).toBe('canary');
    expect(p.pick({ 'x-beta': 'no' })?.revision).toBe('stable');
    expect(p.pick({ cookie: 'a=1; group=b12' })?.revision).toBe('canary');
    expect(p.pick({ cookie: 'group=b12x' })?.revision).toBe('stable');
    expect(p.pick({ 'x-user': 'qa-ann' })?.revision).toBe('canary');
    for (let i = 0; i < 100; i++) expect(p.pick({})?.revision).toBe('stable');
  });

  it('reads ports marked tcp as plain TCP', () => {
    expect(portProtocol({ name: 'tcp-db', port: 5432 })).toBe('tcp');
    expect(portProtocol({ port: 5432, appProtocol: 'tcp' } as never)).toBe('tcp');
    expect(portProtocol({ name: 'http', port: 80 })).toBe('http');
  });

  it('rounds weights to whole percentages summing to 100', () => {
    expect(toPercent({ a: 1, b: 1, c: 1 })).toEqual({ a: 34, b: 33, c: 33 });
    expect(toPercent({ a: 0 })).toEqual({});
    expect(cookieValue('x=1; y = 2', 'y')).toBe('2');
  });
});
