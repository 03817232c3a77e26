import { describe, expect, it } from 'vitest';
import { cronProblem, parseDuration, parseQuantity, pullPolicyFor, quantityValue } from '../../src/api/index.js';
import { isCapstanError } from '../../src/common/index.js';

describe('parseQuantity', () => {
  it('reads cpu in millicores', () => {
    expect(parseQuantity('500m', 'cpu')).toBe(500);
    expect(parseQuantity('1', 'cpu')).toBe(1000);
    expect(parseQuantity(2, 'cpu')).toBe(2000);
    expect(parseQuantity('0.1', 'cpu')).toBe(100);
    expect(parseQuantity('1.5', 'cpu')).toBe(1500);
    expect(parseQuantity('250m', 'cpu')).toBe(250);
    expect(parseQuantity('0.0005', 'cpu')).toBe(1); // rounds up, never to zero
  });

  it('reads memory in bytes, binary and decimal suffixes', () => {
    expect(parseQuantity('128Mi', 'memory')).toBe(128 * 1024 * 1024);
    expect(parseQuantity('1Gi', 'memory')).toBe(2 ** 30);
    expect(parseQuantity('1G', 'memory')).toBe(1e9);
    expect(parseQuantity('1k', 'memory')).toBe(1000);
    expect(parseQuantity('1e3', 'memory')).toBe(1000);
    expect(parseQuantity(1024, 'memory')).toBe(1024);
    expect(parseQuantity('1.5Ki', 'memory')).toBe(1536);
  });

  it('throws a coded error on malformed quantities', () => {
    for (const bad of ['1 core', '-1', 'abc', '1KB', '']) {
      expect(quantityValue(bad)).toBeUndefined();
      try {
        parseQuantity(bad, 'memory');
        expect.fail(`accepted ${bad}`);
      } catch (err) {
        expect(isCapstanError(err, 'CAPSTAN_ERR_API_SCHEMA')).toBe(true);
      }
    }
  });
});

describe('parseDuration', () => {
  it('reads seconds and unit strings', () => {
    expect(parseDuration(30)).toBe(30);
    expect(parseDuration('30')).toBe(30);
    expect(parseDuration('30s')).toBe(30);
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration('1.5m')).toBe(90);
  });

  it('refuses anything else', () => {
    for (const bad of ['5 minutes', '1d', 'm', '', '-5s']) expect(() => parseDuration(bad)).toThrow(/not a duration/);
    expect(() => parseDuration(-1)).toThrow();
  });
});

describe('cronProblem', () => {
  it('accepts Kubernetes five-field schedules and macros', () => {
    for (const ok of ['* * * * *', '*/5 * * * *', '0 0 1,15 * *', '30 2 * * MON-FRI', '0 12 ? JAN,jul sun', '0 0 * * 7', '@hourly', '5-10/2 * * * *']) {
      expect(cronProblem(ok)).toBeUndefined();
    }
  });

  it('explains what is wrong', () => {
    expect(cronProblem('61 * * * *')).toMatch(/minute.*outside 0-59/);
    expect(cronProblem('0 0 * *')).toMatch(/expected 5 fields/);
    expect(cronProblem('0 0 0 * * *')).toMatch(/got 6/);
    expect(cronProblem('0 0 32 * *')).toMatch(/day of month/);
    expect(cronProblem('0 0 * 13 *')).toMatch(/month/);
    expect(cronProblem('0 0 * * FUNDAY')).toMatch(/day of week/);
    expect(cronProblem('*/0 * * * *')).toMatch(/step/);
    expect(cronProblem('@every 5m')).toMatch(/macro/);
    expect(cronProblem('TZ=UTC 0 0 * * *')).toMatch(/timeZone/);
    expect(cronProblem('? * * * *')).toBeDefined();
  });
});

describe('pullPolicyFor', () => {
  it('follows Kubernetes: Always for latest or untagged, IfNotPresent otherwise', () => {
    expect(pullPolicyFor('nginx')).toBe('Always');
    expect(pullPolicyFor('nginx:latest')).toBe('Always');
    expect(pullPolicyFor('nginx:1.25')).toBe('IfNotPresent');
    expect(pullPolicyFor('registry.local:5000/web')).toBe('Always');
    expect(pullPolicyFor('registry.local:5000/web:2')).toBe('IfNotPresent');
    expect(pullPolicyFor('web@sha256:abc')).toBe('IfNotPresent');
  });
});
