// The ejection core and the picker's endpoint choice around ejected and already tried endpoints.
import { describe, expect, it } from 'vitest';
import { Ejections } from '../../src/router/outlier.js';
import { Picker, type Endpoint, type PortTable } from '../../src/router/table.js';

function ep(port: number, revision = 'r1'): Endpoint {
  return { id: `127.0.0.1:${port}`, host: '127.0.0.1', port, pod: `p${port}`, revision };
}

function table(backends: Record<string, Endpoint[]>, weights: Record<string, number>): PortTable {
  return { namespace: 'default', service: 'web', port: 80, protocol: 'http', backends, weights, pickWeights: weights, routes: [], mirrors: [], signature: 'x' };
}

describe('Ejections', () => {
  it('ejects for the base time, doubles on failures in a row up to the cap, and forgets on success', () => {
    let now = 0;
    const e = new Ejections({ baseMs: 10, maxMs: 35, now: () => now });
    expect(e.ejected('a')).toBe(false);
    expect(e.failed('a')).toBe(10);
    expect(e.ejected('a')).toBe(true);
    now = 10;
    expect(e.ejected('a')).toBe(false);
    expect(e.failed('a')).toBe(20);
    expect(e.failed('a')).toBe(35);
    expect(e.list()).toEqual({ a: 45 });
    e.succeeded('a');
    expect(e.ejected('a')).toBe(false);
    expect(e.failed('a')).toBe(10);
    e.retain(new Set(['b']));
    expect(e.list()).toEqual({});
  });
});

describe('Picker.endpointAvoiding', () => {
  it('skips ejected and tried endpoints, and tries ejected ones when nothing else is left', () => {
    const [a, b, c] = [ep(1), ep(2), ep(3)];
    const p = new Picker(table({ r1: [a, b, c] }, { r1: 1 }));
    const none = { ejected: () => false };
    expect([1, 2, 3, 4].map(() => p.endpointAvoiding('r1', undefined, none)?.port)).toEqual([1, 2, 3, 1]);
    const bOut = { ejected: (id: string) => id === b.id };
    expect([1, 2, 3].map(() => p.endpointAvoiding('r1', undefined, bOut)?.port)).toEqual([3, 1, 3]);
    expect(p.endpointAvoiding('r1', [a, c], bOut)).toBe(b);
    expect(p.endpointAvoiding('r1', [a, b, c], none)).toBeUndefined();
    const all = { ejected: () => true };
    expect(p.endpointAvoiding('r1', [a], all)).toBeDefined();
    expect(p.endpointAvoiding('missing', undefined, none)).toBeUndefined();
  });

  it('chooses the revision by weight once, whatever the endpoints do', () => {
    const p = new Picker(table({ s: [ep(1, 's'), ep(2, 's')], c: [ep(3, 'c')] }, { s: 3, c: 1 }));
    const picks = Array.from({ length: 8 }, () => p.chooseRevision());
    expect(picks.filter((r) => r === 'c')).toHaveLength(2);
    expect(picks.filter((r) => r === 's')).toHaveLength(6);
  });
});
