import { describe, expect, it } from 'vitest';
import { applyDefaults, copyData } from '../../src/api/defaults.js';
import type { ManifestObject } from '../../src/api/index.js';

describe('copyData (the copy applyDefaults makes)', () => {
  it('copies mappings and lists deeply, in key order, leaving the input untouched', () => {
    const input = { b: 1, a: { list: [1, 'two', { three: true }, null] }, s: 'x' };
    const copy = copyData(input);
    expect(copy).toEqual(input);
    expect(Object.keys(copy)).toEqual(['b', 'a', 's']);
    expect(copy.a).not.toBe(input.a);
    expect(copy.a.list).not.toBe(input.a.list);
    expect(copy.a.list[2]).not.toBe(input.a.list[2]);
    (copy.a.list[2] as { three: boolean }).three = false;
    expect(input.a.list[2]).toEqual({ three: true });
  });

  it('keeps shared values shared and cycles closed, as structuredClone does', () => {
    const shared = { k: 1 };
    const input: Record<string, unknown> = { x: shared, y: [shared] };
    input.self = input;
    const copy = copyData(input);
    const reference = structuredClone(input);
    expect(copy.x).toBe((copy.y as unknown[])[0]);
    expect(copy.x).not.toBe(shared);
    expect(copy.self).toBe(copy);
    expect(reference.x).toBe((reference.y as unknown[])[0]);
  });

  it('keeps a __proto__ key as data and copies other objects with structuredClone', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "when": null}') as Record<string, unknown>;
    input.when = new Date(0);
    const copy = copyData(input);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(copy, '__proto__')).toBe(true);
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined();
    expect(copy.when).toBeInstanceOf(Date);
    expect(copy.when).not.toBe(input.when);
    expect(copy).toEqual(structuredClone(input));
  });

  it('gives applyDefaults the same result as a structuredClone-based copy and never mutates its input', () => {
    const input = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } } },
    } as unknown as ManifestObject;
    const before = structuredClone(input);
    const out = applyDefaults(input);
    expect(input).toEqual(before);
    expect(JSON.stringify(out)).toBe(JSON.stringify(applyDefaults(structuredClone(input))));
    expect((out as unknown as { spec: { replicas: number } }).spec.replicas).toBe(1);
  });
});
